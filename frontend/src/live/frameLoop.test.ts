import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/errors';
import { response } from '../test/fixtures';
import { RateMeter, runFrameLoop } from './frameLoop';

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('runFrameLoop', () => {
  it('keeps exactly one request in flight and grabs the next frame only after the answer', async () => {
    const controller = new AbortController();
    const events: string[] = [];
    let inFlight = 0;
    let most = 0;
    const pending: (() => void)[] = [];
    const loop = runFrameLoop({
      signal: controller.signal,
      grab: async () => {
        events.push('grab');
        return new Blob(['x']);
      },
      send: () =>
        new Promise((resolve) => {
          inFlight += 1;
          most = Math.max(most, inFlight);
          events.push('send');
          pending.push(() => {
            inFlight -= 1;
            resolve(response([]));
          });
        }),
      onAnswer: () => events.push('answer'),
      onError: () => null,
    });
    for (let i = 0; i < 3; i += 1) {
      await tick();
      expect(pending).toHaveLength(1);
      await tick();
      expect(pending).toHaveLength(1); // nothing more is sent while waiting
      pending.shift()?.();
    }
    await tick();
    controller.abort();
    pending.shift()?.();
    await loop;
    expect(most).toBe(1);
    expect(events.slice(0, 9)).toEqual(['grab', 'send', 'answer', 'grab', 'send', 'answer', 'grab', 'send', 'answer']);
  });

  it('waits as onError says after a 503, and stops when it says stop', async () => {
    const controller = new AbortController();
    const sleep = vi.fn(async () => undefined);
    let calls = 0;
    const onError = vi.fn((error: unknown) => ((error as ApiError).status === 503 ? 1500 : null));
    await runFrameLoop({
      signal: controller.signal,
      grab: async () => new Blob(['x']),
      send: async () => {
        calls += 1;
        throw new ApiError('http', calls === 1 ? 503 : 500);
      },
      onAnswer: () => undefined,
      onError,
      sleep,
    });
    expect(calls).toBe(2);
    expect(sleep).toHaveBeenCalledTimes(1);
    expect(sleep).toHaveBeenCalledWith(1500, controller.signal);
  });

  it('waits for the camera picture instead of sending nothing', async () => {
    const controller = new AbortController();
    const send = vi.fn(async () => response([]));
    let grabs = 0;
    await runFrameLoop({
      signal: controller.signal,
      grab: async () => {
        grabs += 1;
        if (grabs === 3) controller.abort();
        return null;
      },
      send,
      onAnswer: () => undefined,
      onError: () => null,
      sleep: async () => undefined,
    });
    expect(send).not.toHaveBeenCalled();
  });

  it('reports timings from the injected clock and stops at once when aborted mid-request', async () => {
    const controller = new AbortController();
    let clock = 100;
    const onAnswer = vi.fn();
    await runFrameLoop({
      signal: controller.signal,
      now: () => clock,
      grab: async () => new Blob(['x']),
      send: async () => {
        clock += 250;
        if (onAnswer.mock.calls.length === 1) controller.abort();
        return response([]);
      },
      onAnswer,
      onError: () => null,
    });
    expect(onAnswer).toHaveBeenCalledTimes(1);
    expect(onAnswer.mock.calls[0][1]).toEqual({ grabbedAt: 100, answeredAt: 350 });
  });
});

describe('RateMeter', () => {
  it('gives answers per second over its window', () => {
    const meter = new RateMeter(3);
    expect(meter.rate()).toBeNull();
    meter.add(0);
    meter.add(500);
    expect(meter.rate()).toBeCloseTo(2, 10);
    meter.add(1000);
    meter.add(1250); // the oldest drops out: 2 intervals over 750 ms
    expect(meter.rate()).toBeCloseTo(2 / 0.75, 10);
  });
});
