/**
 * Faces followed from frame to frame by box overlap: each answer's faces are matched to the
 * live tracks greedily, highest IoU first; a face no track overlaps enough starts a new track;
 * a track unseen for more than `missFrames` answers has left and ends.
 * The same rule follows faces through videos (inference_service/video/tracks.py); both run the cases of
 * tracking-cases.json.
 */
import type { Face } from '../api/types';
import {
  centralInterval,
  combine,
  type Distribution,
  expectedAge,
  probabilityOver,
  type Verdict,
  verdictOf,
} from './distribution';
import settings from './settings.json';

export type Box = readonly [number, number, number, number];

export interface LiveCheck {
  threshold: number;
  p_over: number;
  verdict: Verdict;
}

export interface Track {
  id: number;
  box: Box;
  /** The last `window` frames' calibrated distributions, oldest first. */
  frames: Distribution[];
  /** Answers since it was last seen (0: in the latest frame). */
  misses: number;
  /** The accumulated estimate (unrounded) and the age shown, which moves only past the hysteresis. */
  age: number;
  shownAge: number;
  interval: [number, number];
  /** This frame's single-frame age (the service's), for measuring how much steadier the track is. */
  frameAge: number;
  check: LiveCheck | null;
  /** A verdict waiting to be confirmed by `verdictFrames` answers in a row. */
  pending: { verdict: Verdict; count: number } | null;
}

export interface TrackerSettings {
  matchIou: number;
  missFrames: number;
  window: number;
  maxEffectiveFrames: number;
  ageHysteresis: number;
  verdictFrames: number;
  checkConfidence: number;
}

export const DEFAULT_TRACKER: TrackerSettings = settings;

export function iou(a: Box, b: Box): number {
  const width = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const height = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (width <= 0 || height <= 0) return 0;
  const overlap = width * height;
  const area = (box: Box) => (box[2] - box[0]) * (box[3] - box[1]);
  return overlap / (area(a) + area(b) - overlap);
}

/** Pairs (track index, face index), best overlap first, each track and face used once. */
export function match(tracks: readonly { box: Box }[], boxes: readonly Box[], minIou: number): [number, number][] {
  const pairs: [number, number, number][] = [];
  tracks.forEach((track, t) =>
    boxes.forEach((box, f) => {
      const overlap = iou(track.box, box);
      if (overlap >= minIou) pairs.push([overlap, t, f]);
    }),
  );
  pairs.sort((a, b) => b[0] - a[0]);
  const usedTracks = new Set<number>();
  const usedFaces = new Set<number>();
  const chosen: [number, number][] = [];
  for (const [, t, f] of pairs) {
    if (usedTracks.has(t) || usedFaces.has(f)) continue;
    usedTracks.add(t);
    usedFaces.add(f);
    chosen.push([t, f]);
  }
  return chosen;
}

function distributionOf(face: Face): Distribution {
  const given = face.age_distribution;
  if (given) return { ageMin: given.age_min, probabilities: given.probabilities };
  // Without ?distribution=true: one point at the rounded age (the page always asks for it).
  const probabilities = new Array<number>(101).fill(0);
  probabilities[Math.min(100, Math.max(0, Math.round(face.age)))] = 1;
  return { ageMin: 0, probabilities };
}

function nextCheck(
  previous: Pick<Track, 'check' | 'pending'>,
  combined: Distribution,
  threshold: number | null,
  options: TrackerSettings,
): Pick<Track, 'check' | 'pending'> {
  if (threshold === null) return { check: null, pending: null };
  const pOver = probabilityOver(combined, threshold);
  const verdict = verdictOf(pOver, options.checkConfidence);
  const shown = previous.check;
  // A first verdict, a new threshold, or the same verdict: shown at once (p_over updates freely).
  if (!shown || shown.threshold !== threshold || shown.verdict === verdict) {
    return { check: { threshold, p_over: pOver, verdict }, pending: null };
  }
  const count = previous.pending?.verdict === verdict ? previous.pending.count + 1 : 1;
  if (count >= options.verdictFrames) return { check: { threshold, p_over: pOver, verdict }, pending: null };
  return { check: shown, pending: { verdict, count } };
}

function observe(
  previous: Track | null,
  id: number,
  face: Face,
  threshold: number | null,
  options: TrackerSettings,
): Track {
  const frames = [...(previous?.frames ?? []), distributionOf(face)].slice(-options.window);
  const combined = combine(frames, options.maxEffectiveFrames);
  const age = expectedAge(combined);
  const shownAge =
    previous && Math.abs(age - previous.shownAge) <= options.ageHysteresis ? previous.shownAge : Math.round(age);
  return {
    id,
    box: face.box,
    frames,
    misses: 0,
    age,
    shownAge,
    interval: centralInterval(combined),
    frameAge: face.age,
    ...nextCheck(previous ?? { check: null, pending: null }, combined, threshold, options),
  };
}

export interface TrackerState {
  tracks: Track[];
  nextId: number;
}

export const EMPTY_TRACKER: TrackerState = { tracks: [], nextId: 1 };

/** The tracks after one answer's faces (all boxes in the same frame size). */
export function update(
  state: TrackerState,
  faces: readonly Face[],
  threshold: number | null,
  options: TrackerSettings = DEFAULT_TRACKER,
): TrackerState {
  const pairs = match(
    state.tracks,
    faces.map((face) => face.box),
    options.matchIou,
  );
  const byFace = new Map(pairs.map(([t, f]) => [f, state.tracks[t]]));
  const seen = new Set(pairs.map(([t]) => t));
  let nextId = state.nextId;
  const tracks: Track[] = faces.map((face, f) => {
    const previous = byFace.get(f) ?? null;
    const id = previous ? previous.id : nextId++;
    return observe(previous, id, face, threshold, options);
  });
  state.tracks.forEach((track, t) => {
    if (!seen.has(t) && track.misses < options.missFrames) tracks.push({ ...track, misses: track.misses + 1 });
  });
  tracks.sort((a, b) => a.id - b.id);
  return { tracks, nextId };
}
