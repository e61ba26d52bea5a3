import { describe, expect, it } from 'vitest';
import { centralInterval, combine, type Distribution, expectedAge, probabilityOver, quantile, verdictOf } from './distribution';

/** A discretised normal over 0..100. */
function normal(mean: number, sd: number): Distribution {
  const raw = Array.from({ length: 101 }, (_, a) => Math.exp(-0.5 * ((a - mean) / sd) ** 2));
  const total = raw.reduce((s, v) => s + v, 0);
  return { ageMin: 0, probabilities: raw.map((v) => v / total) };
}

const width = (d: Distribution) => {
  const [low, high] = centralInterval(d);
  return high - low;
};

describe('combine', () => {
  it('returns one frame unchanged', () => {
    const one = normal(30, 5);
    combine([one]).probabilities.forEach((p, i) => expect(p).toBeCloseTo(one.probabilities[i], 6));
  });

  it('is the normalised product for up to maxEffective frames: two equal normals narrow by √2', () => {
    const combined = combine([normal(30, 5), normal(30, 5)], 2);
    expect(width(combined)).toBeCloseTo(width(normal(30, 5)) / Math.SQRT2, 1);
    expect(expectedAge(combined)).toBeCloseTo(30, 5);
  });

  it('caps the evidence: ten identical frames narrow no more than maxEffective frames would', () => {
    const ten = combine(Array.from({ length: 10 }, () => normal(40, 6)), 2);
    const two = combine([normal(40, 6), normal(40, 6)], 2);
    expect(width(ten)).toBeCloseTo(width(two), 3);
    expect(width(combine(Array.from({ length: 10 }, () => normal(40, 6)), 1))).toBeCloseTo(width(normal(40, 6)), 3);
  });

  it('lands between disagreeing frames, weighted by how sure each is', () => {
    const combined = combine([normal(20, 3), normal(40, 9)], 2);
    const age = expectedAge(combined);
    expect(age).toBeGreaterThan(20);
    expect(age).toBeLessThan(25);
  });

  it('survives rounded zeros: no frame vetoes an age for good', () => {
    const spike = { ageMin: 0, probabilities: Array.from({ length: 101 }, (_, a) => (a === 50 ? 1 : 0)) };
    const combined = combine([spike, normal(52, 4)], 2);
    expect(combined.probabilities.every(Number.isFinite)).toBe(true);
    expect(combined.probabilities.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 10);
  });

  it('refuses no frames', () => {
    expect(() => combine([])).toThrow();
  });
});

describe('reading a distribution', () => {
  it('quantiles read bins as spread over [a - 0.5, a + 0.5]', () => {
    const flat = { ageMin: 10, probabilities: [0.25, 0.25, 0.25, 0.25] };
    expect(quantile(flat, 0.5)).toBeCloseTo(11.5, 10);
    expect(quantile(flat, 0.3)).toBeCloseTo(10.7, 10);
    expect(quantile(flat, 0.1)).toBe(10); // clipped to the age range, as the service does
    expect(centralInterval(flat, 0.5)).toEqual([expect.closeTo(10.5, 10), expect.closeTo(12.5, 10)]);
  });

  it('P(age >= T) is the upper tail, and the verdict follows the service rule', () => {
    const d = normal(30, 4);
    expect(probabilityOver(d, 0)).toBeCloseTo(1, 10);
    expect(probabilityOver(d, 30)).toBeGreaterThan(0.5);
    expect(probabilityOver(d, 18)).toBeGreaterThan(0.99);
    expect(verdictOf(0.95)).toBe('over');
    expect(verdictOf(0.9)).toBe('over');
    expect(verdictOf(0.05)).toBe('under');
    expect(verdictOf(0.5)).toBe('uncertain');
  });
});
