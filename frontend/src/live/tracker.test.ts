import { describe, expect, it } from 'vitest';
import type { Face } from '../api/types';
import { face } from '../test/fixtures';
import { DEFAULT_TRACKER, EMPTY_TRACKER, iou, match, type TrackerState, update } from './tracker';

function withDistribution(box: Face['box'], mean: number, sd = 5): Face {
  const raw = Array.from({ length: 101 }, (_, a) => Math.exp(-0.5 * ((a - mean) / sd) ** 2));
  const total = raw.reduce((s, v) => s + v, 0);
  return { ...face(box, mean), age_distribution: { age_min: 0, probabilities: raw.map((v) => v / total) } };
}

const run = (frames: Face[][], threshold: number | null = null) =>
  frames.reduce<TrackerState>((state, faces) => update(state, faces, threshold), EMPTY_TRACKER);

describe('iou and matching', () => {
  it('measures overlap', () => {
    expect(iou([0, 0, 10, 10], [0, 0, 10, 10])).toBe(1);
    expect(iou([0, 0, 10, 10], [20, 20, 30, 30])).toBe(0);
    expect(iou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(1 / 3, 10);
  });

  it('pairs the best overlaps first, each once', () => {
    const tracks = [{ box: [0, 0, 10, 10] as const }, { box: [8, 0, 18, 10] as const }];
    expect(match(tracks, [[9, 0, 19, 10], [1, 0, 11, 10]], 0.2)).toEqual(
      expect.arrayContaining([
        [1, 0],
        [0, 1],
      ]),
    );
    expect(match(tracks, [[100, 100, 110, 110]], 0.2)).toEqual([]);
  });
});

describe('tracks', () => {
  it('follow a moving face with one id and combine its frames', () => {
    const state = run([0, 4, 8, 12].map((dx, i) => [withDistribution([100 + dx, 50, 180 + dx, 150], 30 + (i % 2))]));
    expect(state.tracks).toHaveLength(1);
    const [track] = state.tracks;
    expect(track.id).toBe(1);
    expect(track.box[0]).toBe(112);
    expect(track.frames).toHaveLength(4);
    expect(track.age).toBeCloseTo(30.5, 1);
  });

  it('keep two faces apart and start a new id for a newcomer', () => {
    const a = (dx: number) => withDistribution([10 + dx, 10, 60 + dx, 70], 20);
    const b = (dx: number) => withDistribution([300 + dx, 10, 350 + dx, 70], 60);
    const state = run([[a(0), b(0)], [b(3), a(3)], [a(6), b(6), withDistribution([150, 200, 200, 260], 8)]]);
    expect(state.tracks.map((t) => [t.id, t.shownAge])).toEqual([
      [1, 20],
      [2, 60],
      [3, 8],
    ]);
  });

  it('end a few frames after the face has left, shown as stale meanwhile', () => {
    const here = [withDistribution([10, 10, 60, 70], 40)];
    let state = run([here, here]);
    for (let miss = 1; miss <= DEFAULT_TRACKER.missFrames; miss += 1) {
      state = update(state, [], null);
      expect(state.tracks).toHaveLength(1);
      expect(state.tracks[0].misses).toBe(miss);
    }
    state = update(state, [], null);
    expect(state.tracks).toHaveLength(0);
    // coming back later is a new track
    expect(update(state, here, null).tracks[0].id).toBe(2);
  });

  it('keep only the last `window` frames', () => {
    const frames = Array.from({ length: DEFAULT_TRACKER.window + 5 }, () => [withDistribution([0, 0, 50, 50], 25)]);
    expect(run(frames).tracks[0].frames).toHaveLength(DEFAULT_TRACKER.window);
  });

  it('do not flicker: the shown age moves only past the hysteresis', () => {
    // single-frame ages alternate 29.6 / 30.4: each rounds differently, the label stays put
    const frames = Array.from({ length: 8 }, (_, i) => [withDistribution([0, 0, 50, 50], i % 2 ? 30.4 : 29.6)]);
    const shown = frames.map((_, n) => run(frames.slice(0, n + 1)).tracks[0].shownAge);
    expect(new Set(shown).size).toBe(1);
    // a real change does move it
    const older = [...frames, ...Array.from({ length: 10 }, () => [withDistribution([0, 0, 50, 50], 45)])];
    expect(run(older).tracks[0].shownAge).toBe(45);
  });

  it('give the age check from the accumulated distribution, a new verdict only when it holds', () => {
    const box: Face['box'] = [0, 0, 50, 50];
    let state = run([[withDistribution(box, 30, 3)]], 18);
    expect(state.tracks[0].check).toMatchObject({ threshold: 18, verdict: 'over' });
    expect(state.tracks[0].check?.p_over).toBeGreaterThan(0.99);
    // one frame saying "young" does not flip it ...
    state = update(state, [withDistribution(box, 8, 3)], 18);
    expect(state.tracks[0].check?.verdict).toBe('over');
    // ... but the evidence staying there does
    for (let i = 0; i < 12; i += 1) state = update(state, [withDistribution(box, 8, 3)], 18);
    expect(state.tracks[0].check?.verdict).toBe('under');
    // check off: no verdict
    expect(update(state, [withDistribution(box, 8, 3)], null).tracks[0].check).toBeNull();
  });
});
