import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { face, response } from '../test/fixtures';
import { CROWD_SIZE } from './FaceOverlay';
import { ResultView } from './ResultView';

const upload = { originalBytes: 2_400_000, uploadedBytes: 310_000, compressed: true };

describe('ResultView', () => {
  it('draws one box and one rounded age label per face, placed in percent of the image', () => {
    const result = response([face([100, 50, 200, 250], 33.5, [28.6, 39.2]), face([600, 100, 700, 300], 7.4)]);
    render(<ResultView result={result} imageUrl="blob:x" upload={upload} />);

    const boxes = screen.getAllByTestId('face-box');
    expect(boxes).toHaveLength(2);
    expect(screen.getAllByTestId('face-age').map((label) => label.textContent)).toEqual(['34', '7']);
    expect(boxes[0]).toHaveStyle({ left: '10%', top: '10%', width: '10%', height: '40%' });
    expect(boxes[1]).toHaveStyle({ left: '60%', top: '20%', width: '10%', height: '40%' });
    // The interval travels with the label (shown on hover) and in the title.
    expect(boxes[0]).toHaveTextContent('34 · 29–39');
    expect(boxes[0]).toHaveAttribute('title', 'Face 1: about 34 (likely 29–39)');
  });

  it('keeps boxes inside the picture when the detector reaches past an edge', () => {
    render(<ResultView result={response([face([-50, -10, 100, 100], 40)])} imageUrl="blob:x" upload={upload} />);
    expect(screen.getByTestId('face-box')).toHaveStyle({ left: '0%', top: '0%', width: '10%' });
  });

  it('puts the label inside boxes that touch the top edge, and right-aligns it at the right edge', () => {
    const result = response([face([100, 5, 200, 200], 30), face([950, 200, 1000, 260], 40), face([400, 200, 500, 300], 50)]);
    render(<ResultView result={result} imageUrl="blob:x" upload={upload} />);
    const [top, right, plain] = screen.getAllByTestId('face-box');
    expect(top).toHaveClass('label-inside');
    expect(right).toHaveClass('label-right');
    expect(plain).not.toHaveClass('label-inside');
    expect(plain).not.toHaveClass('label-right');
  });

  it('lists faces left to right with age and interval; choosing one highlights its box', async () => {
    const user = userEvent.setup();
    const result = response([face([600, 100, 700, 300], 52.2, [45, 60]), face([100, 50, 200, 250], 33.5, [29, 39])]);
    render(<ResultView result={result} imageUrl="blob:x" upload={upload} />);

    const items = within(screen.getByRole('list', { name: 'Faces found' })).getAllByRole('button');
    expect(items.map((item) => item.textContent)).toEqual([
      'Face 134 yearslikely 29–39',
      'Face 252 yearslikely 45–60',
    ]);
    const [rightBox, leftBox] = screen.getAllByTestId('face-box');
    expect(leftBox).toHaveAttribute('data-face', '1');

    await user.click(items[1]);
    expect(items[1]).toHaveAttribute('aria-pressed', 'true');
    expect(rightBox).toHaveClass('selected');
    expect(leftBox).not.toHaveClass('selected');

    await user.click(items[1]);
    expect(rightBox).not.toHaveClass('selected');
    expect(items[1]).toHaveAttribute('aria-pressed', 'false');
  });

  it('selects from the keyboard alone', async () => {
    const user = userEvent.setup();
    render(
      <ResultView
        result={response([face([100, 50, 200, 250], 30), face([600, 100, 700, 300], 60)])}
        imageUrl="blob:x"
        upload={upload}
      />,
    );
    await user.tab();
    expect(screen.getAllByTestId('face-item')[0]).toHaveFocus();
    await user.tab();
    await user.keyboard('{Enter}');
    expect(screen.getAllByTestId('face-box')[1]).toHaveClass('selected');
  });

  it('says so plainly when there are no faces, instead of an empty picture', () => {
    render(<ResultView result={response([])} imageUrl="blob:x" upload={upload} />);
    expect(screen.getByTestId('no-faces')).toHaveTextContent('No faces were found in this photo.');
    expect(screen.queryAllByTestId('face-box')).toHaveLength(0);
    expect(screen.getByRole('img')).toHaveAttribute('alt', expect.stringContaining('no faces'));
  });

  it('shows original and uploaded sizes and the uploaded dimensions', () => {
    render(<ResultView result={response([face([1, 1, 50, 50], 20)], 1600, 1067)} imageUrl="blob:x" upload={upload} />);
    expect(screen.getByText(/Original 2.4 MB → uploaded 310 KB · 1600 × 1067 px/)).toBeInTheDocument();
  });

  it('gives the photo alt text naming the faces', () => {
    render(<ResultView result={response([face([1, 1, 50, 50], 20)])} imageUrl="blob:x" upload={upload} />);
    expect(screen.getByRole('img')).toHaveAttribute(
      'alt',
      'Your photo with one face marked and labelled with estimated ages',
    );
  });

  it('switches crowds of faces to compact labels and keeps every one', () => {
    const many = Array.from({ length: 60 }, (_, i) =>
      face([(i % 10) * 100, Math.floor(i / 10) * 80 + 5, (i % 10) * 100 + 60, Math.floor(i / 10) * 80 + 65], 20 + i),
    );
    const { container } = render(<ResultView result={response(many, 1000, 500)} imageUrl="blob:x" upload={upload} />);
    expect(many.length).toBeGreaterThanOrEqual(CROWD_SIZE);
    expect(container.querySelector('.photo-frame')).toHaveClass('crowded');
    expect(screen.getAllByTestId('face-box')).toHaveLength(60);
    expect(screen.getAllByTestId('face-age')).toHaveLength(60);
    expect(screen.getByRole('heading', { name: '60 faces found' })).toBeInTheDocument();
  });

  it('mentions when the service examined only part of a crowd', () => {
    render(
      <ResultView result={{ ...response([face([1, 1, 50, 50], 20)]), truncated: true }} imageUrl="blob:x" upload={upload} />,
    );
    expect(screen.getByText(/only these are shown/)).toBeInTheDocument();
  });
});
