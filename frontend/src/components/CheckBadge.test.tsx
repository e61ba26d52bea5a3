import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { AgeCheck } from '../api/types';
import { face } from '../test/fixtures';
import { CheckBadge } from './CheckBadge';

const withCheck = (check: AgeCheck) => ({ ...face([0, 0, 10, 10], 30), age_checks: [check] });

describe('CheckBadge', () => {
  it.each([
    [{ threshold: 18, p_over: 0.973, verdict: 'over' } as const, 'over 18 · 97 %'],
    [{ threshold: 18, p_over: 0.02, verdict: 'under' } as const, 'under 18'],
    [{ threshold: 25, p_over: 0.6, verdict: 'uncertain' } as const, 'not sure — ask for ID'],
  ])('says %o in words, with a colour class as well', (check, words) => {
    render(<CheckBadge face={withCheck(check)} threshold={check.threshold} />);
    const badge = screen.getByTestId('check-badge');
    expect(badge).toHaveTextContent(words);
    expect(badge).toHaveClass(`verdict-${check.verdict}`);
  });

  it('has a short form for the photo, still in words', () => {
    const face = withCheck({ threshold: 21, p_over: 0.5, verdict: 'uncertain' });
    render(<CheckBadge face={face} threshold={21} compact />);
    expect(screen.getByTestId('check-badge')).toHaveTextContent('ask for ID');
  });

  it('shows nothing when the check is off or the answer carries no such threshold', () => {
    const { container } = render(
      <>
        <CheckBadge face={withCheck({ threshold: 18, p_over: 0.9, verdict: 'over' })} threshold={null} />
        <CheckBadge face={withCheck({ threshold: 18, p_over: 0.9, verdict: 'over' })} threshold={21} />
        <CheckBadge face={face([0, 0, 1, 1], 30)} threshold={18} />
      </>,
    );
    expect(container).toBeEmptyDOMElement();
  });
});
