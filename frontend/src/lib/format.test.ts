import { describe, expect, it } from 'vitest';
import { formatBytes, formatInterval, roundAge } from './format';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1500, '1.5 KB'],
    [48_200, '48 KB'],
    [2_400_000, '2.4 MB'],
  ])('%d bytes reads as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it('refuses nonsense', () => {
    expect(formatBytes(Number.NaN)).toBe('–');
    expect(formatBytes(-1)).toBe('–');
  });
});

describe('ages', () => {
  it('rounds like Math.round, halves up', () => {
    expect(roundAge(33.5)).toBe(34);
    expect(roundAge(33.49)).toBe(33);
    expect(roundAge(2.5)).toBe(3);
  });

  it('writes an interval with an en dash', () => {
    expect(formatInterval([28.6, 39.2])).toBe('29–39');
    expect(formatInterval(null)).toBeNull();
    expect(formatInterval(undefined)).toBeNull();
  });
});
