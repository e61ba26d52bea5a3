/**
 * The cases in tracking-cases.json, which inference_service/video/tracks.py also runs
 * (tests/inference_service/video/test_tracks.py): the camera's tracker and the video tracker
 * are one rule written twice, and this file keeps them from drifting.
 */
import { describe, expect, it } from 'vitest';
import type { Face } from '../api/types';
import { face } from '../test/fixtures';
import { combine } from './distribution';
import { EMPTY_TRACKER, iou, match, type Box, type TrackerState, update } from './tracker';
import cases from './tracking-cases.json';

describe('the shared tracking cases', () => {
  it.each(cases.iou)('iou %#', ({ a, b, expected }) => {
    expect(iou(a as unknown as Box, b as unknown as Box)).toBeCloseTo(expected, 12);
  });

  it.each(cases.match)('match %#', ({ tracks, faces, minIou, expected }) => {
    const found = match(
      tracks.map((box) => ({ box: box as unknown as Box })),
      faces as unknown as Box[],
      minIou,
    );
    const order = (pairs: number[][]) => [...pairs].sort((p, q) => p[0] - q[0] || p[1] - q[1]);
    expect(order(found)).toEqual(order(expected));
  });

  it.each(cases.follow)('follow: $name', ({ frames, expected }) => {
    let state: TrackerState = EMPTY_TRACKER;
    const ids = frames.map((boxes) => {
      state = update(
        state,
        boxes.map((box) => face(box as unknown as Face['box'], 30)),
        null,
      );
      return boxes.map((box) => state.tracks.find((t) => t.misses === 0 && t.box.every((v, i) => v === box[i]))!.id);
    });
    expect(ids).toEqual(expected);
  });

  it.each(cases.combine)('combine %#', ({ frames, maxEffective, expected }) => {
    const combined = combine(
      frames.map((probabilities) => ({ ageMin: 0, probabilities })),
      maxEffective,
    );
    combined.probabilities.forEach((p, i) => expect(p).toBeCloseTo(expected[i], 9));
  });
});
