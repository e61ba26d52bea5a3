/**
 * The live loop: grab a frame, send it, wait for the answer, repeat. Exactly one request is in
 * flight at a time and the next frame is taken only when the answer is back, so the frame rate
 * follows the machine (and the service) instead of piling requests up.
 */
import type { PredictResponse } from '../api/types';

export interface FrameTiming {
  /** performance.now() when the frame was grabbed, and when its answer arrived. */
  grabbedAt: number;
  answeredAt: number;
}

export interface FrameLoopOptions {
  /** The current camera frame as a JPEG; null while the camera has no picture yet. */
  grab: () => Promise<Blob | null>;
  send: (frame: Blob, signal: AbortSignal) => Promise<PredictResponse>;
  onAnswer: (answer: PredictResponse, timing: FrameTiming) => void;
  /** Milliseconds to wait before the next frame (e.g. a 503's Retry-After), or null to stop. */
  onError: (error: unknown) => number | null;
  signal: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Waiting for the camera's first picture. */
export const NO_FRAME_WAIT_MS = 100;

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs until `signal` aborts or `onError` says stop. */
export async function runFrameLoop({
  grab,
  send,
  onAnswer,
  onError,
  signal,
  now = () => performance.now(),
  sleep = abortableSleep,
}: FrameLoopOptions): Promise<void> {
  while (!signal.aborted) {
    const grabbedAt = now();
    let wait = 0;
    try {
      const frame = await grab();
      if (signal.aborted) return;
      if (frame === null) {
        wait = NO_FRAME_WAIT_MS;
      } else {
        const answer = await send(frame, signal);
        if (signal.aborted) return;
        onAnswer(answer, { grabbedAt, answeredAt: now() });
      }
    } catch (error) {
      if (signal.aborted) return;
      const next = onError(error);
      if (next === null) return;
      wait = next;
    }
    if (wait > 0) await sleep(wait, signal);
  }
}

/** Answers per second over the last `size` answers. */
export class RateMeter {
  private readonly times: number[] = [];
  private readonly size: number;

  constructor(size = 10) {
    this.size = size;
  }

  add(time: number): void {
    this.times.push(time);
    if (this.times.length > this.size) this.times.shift();
  }

  reset(): void {
    this.times.length = 0;
  }

  rate(): number | null {
    if (this.times.length < 2) return null;
    const span = this.times[this.times.length - 1] - this.times[0];
    return span > 0 ? ((this.times.length - 1) * 1000) / span : null;
  }
}
