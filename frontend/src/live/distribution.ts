/**
 * A track's age from its recent frames: the frames' calibrated distributions (from
 * POST /predict?distribution=true) combined by a tempered normalised product,
 *
 *   p(a) ∝ Π_i p_i(a)^(n_eff / N),   n_eff = min(N, maxEffectiveFrames),
 *
 * i.e. the geometric mean of the N frames raised to n_eff. With one frame it is that frame; with
 * many, frames that agree sharpen it as n_eff independent looks would, never more: frames of one
 * face share the person, the light and the pose, so they are far from independent. The page's cap is 1
 * (the geometric mean: steadier, not narrower): bench/live_coverage.py found every larger cap
 * over-claims its 80 % interval (docs/live-mode.md).
 * The age, interval and age checks are read from it the way the service reads one frame's.
 */
import settings from './settings.json';

export interface Distribution {
  ageMin: number;
  /** P(age = ageMin + i). */
  probabilities: number[];
}

/** Rounded zeros (the service sends 6 decimals) must not veto an age for good. */
const FLOOR = 1e-7;

export function combine(frames: readonly Distribution[], maxEffective: number = settings.maxEffectiveFrames): Distribution {
  if (frames.length === 0) throw new Error('combine needs at least one frame');
  const { ageMin } = frames[0];
  const bins = frames[0].probabilities.length;
  const weight = Math.min(frames.length, maxEffective) / frames.length;
  const logs = new Array<number>(bins).fill(0);
  for (const frame of frames) {
    for (let i = 0; i < bins; i += 1) logs[i] += weight * Math.log(Math.max(frame.probabilities[i] ?? 0, FLOOR));
  }
  const top = Math.max(...logs);
  const raw = logs.map((value) => Math.exp(value - top));
  const total = raw.reduce((sum, value) => sum + value, 0);
  return { ageMin, probabilities: raw.map((value) => value / total) };
}

export function expectedAge({ ageMin, probabilities }: Distribution): number {
  return probabilities.reduce((sum, p, i) => sum + p * (ageMin + i), 0);
}

/** The q-quantile, reading bin a as spread evenly over [a - 0.5, a + 0.5] (as the service does). */
export function quantile({ ageMin, probabilities }: Distribution, q: number): number {
  let before = 0;
  for (let i = 0; i < probabilities.length; i += 1) {
    const inside = probabilities[i];
    if (before + inside >= q) {
      const fraction = Math.min(1, Math.max(0, (q - before) / Math.max(inside, 1e-12)));
      return Math.min(ageMin + probabilities.length - 1, Math.max(ageMin, ageMin + i - 0.5 + fraction));
    }
    before += inside;
  }
  return ageMin + probabilities.length - 1;
}

/** The central interval holding `mass` of the distribution (80 %, like the service's age_interval). */
export function centralInterval(distribution: Distribution, mass: number = settings.intervalMass): [number, number] {
  const tail = (1 - mass) / 2;
  return [quantile(distribution, tail), quantile(distribution, 1 - tail)];
}

/** P(age >= threshold): the upper tail. */
export function probabilityOver({ ageMin, probabilities }: Distribution, threshold: number): number {
  const start = Math.min(probabilities.length - 1, Math.max(0, threshold - ageMin));
  let tail = 0;
  for (let i = start; i < probabilities.length; i += 1) tail += probabilities[i];
  return Math.min(1, Math.max(0, tail));
}

export type Verdict = 'over' | 'under' | 'uncertain';

/** The service's rule (vision/age_checks.verdict). */
export function verdictOf(pOver: number, confidence: number = settings.checkConfidence): Verdict {
  if (pOver >= confidence) return 'over';
  if (1 - pOver >= confidence) return 'under';
  return 'uncertain';
}
