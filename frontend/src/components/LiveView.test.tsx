import { act, render, screen } from '@testing-library/react';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { PredictFn, PredictOptions } from '../api/client';
import { ApiError } from '../api/errors';
import type { Face, PredictResponse } from '../api/types';
import { CAMERA_MESSAGES } from '../live/camera';
import { face, response } from '../test/fixtures';
import { LiveView } from './LiveView';

function fakeStream() {
  const track = { stop: vi.fn() };
  return { stream: { getTracks: () => [track] } as unknown as MediaStream, track };
}

function withDistribution(box: Face['box'], mean: number): Face {
  const raw = Array.from({ length: 101 }, (_, a) => Math.exp(-0.5 * ((a - mean) / 4) ** 2));
  const total = raw.reduce((s, v) => s + v, 0);
  return { ...face(box, mean), age_distribution: { age_min: 0, probabilities: raw.map((v) => v / total) } };
}

/** A predict whose answers the test hands out one by one. */
function controlledPredict() {
  const waiting: { resolve: (r: PredictResponse) => void; reject: (e: unknown) => void; options?: PredictOptions }[] =
    [];
  const predict: PredictFn = (_file, _name, options) =>
    new Promise((resolve, reject) => waiting.push({ resolve, reject, options }));
  return { predict, waiting };
}

const grab = async () => new Blob(['jpeg'], { type: 'image/jpeg' });
const flush = () => act(async () => new Promise((resolve) => setTimeout(resolve, 0)));

describe('LiveView', () => {
  beforeAll(() => {
    // jsdom plays no video
    vi.spyOn(HTMLMediaElement.prototype, 'play').mockResolvedValue(undefined);
  });

  it('draws a box and an age per face, one request at a time, with the distribution asked for', async () => {
    const { stream } = fakeStream();
    const { predict, waiting } = controlledPredict();
    render(<LiveView predict={predict} check={18} open={async () => stream} grab={grab} />);
    await flush();
    expect(waiting).toHaveLength(1);
    expect(waiting[0].options?.distribution).toBe(true);
    await flush();
    expect(waiting).toHaveLength(1); // still one: the next frame waits for this answer
    await act(async () =>
      waiting[0].resolve(response([withDistribution([10, 10, 110, 130], 35), withDistribution([300, 20, 380, 120], 9)], 640, 480)),
    );
    await flush();
    expect(screen.getAllByTestId('live-box')).toHaveLength(2);
    expect(screen.getAllByTestId('live-age').map((e) => e.textContent)).toEqual(['35', '9']);
    expect(screen.getByTestId('live-count')).toHaveTextContent('2 faces in view');
    expect(screen.getAllByTestId('check-badge').map((e) => e.dataset.verdict)).toEqual(['over', 'under', 'over', 'under']);
    expect(waiting).toHaveLength(2); // the next frame went out after the answer
    expect(screen.getAllByTestId('live-box')[0]).toHaveStyle({ left: `${(10 / 640) * 100}%` });
  });

  it('says so plainly when camera permission is denied, and offers to try again', async () => {
    const denied = Object.assign(new Error('denied'), { name: 'NotAllowedError' });
    const { predict } = controlledPredict();
    render(<LiveView predict={predict} check={null} open={async () => Promise.reject(denied)} grab={grab} />);
    expect(await screen.findByTestId('live-error')).toHaveTextContent(CAMERA_MESSAGES.denied);
    expect(screen.getByRole('button', { name: 'Try live again' })).toBeInTheDocument();
  });

  it('says when there is no camera', async () => {
    const none = Object.assign(new Error('none'), { name: 'NotFoundError' });
    const { predict } = controlledPredict();
    render(<LiveView predict={predict} check={null} open={async () => Promise.reject(none)} grab={grab} />);
    expect(await screen.findByTestId('live-error')).toHaveTextContent(CAMERA_MESSAGES.missing);
  });

  it('on 503 shows the busy sentence and keeps going by itself', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      const { stream, track } = fakeStream();
      const { predict, waiting } = controlledPredict();
      render(<LiveView predict={predict} check={null} open={async () => stream} grab={grab} />);
      await flush();
      await act(async () => waiting[0].reject(new ApiError('http', 503, { retryAfter: 1 })));
      expect(await screen.findByTestId('live-notice')).toHaveTextContent('try again in 1 second');
      expect(track.stop).not.toHaveBeenCalled();
      await act(async () => vi.advanceTimersByTimeAsync(1100));
      expect(waiting).toHaveLength(2);
      await act(async () => waiting[1].resolve(response([], 640, 480)));
      expect(screen.queryByTestId('live-notice')).toBeNull();
      expect(screen.getByTestId('live-count')).toHaveTextContent('0 faces in view');
    } finally {
      vi.useRealTimers();
    }
  });

  it('stops the camera on another error, with the sentence for it', async () => {
    const { stream, track } = fakeStream();
    const { predict, waiting } = controlledPredict();
    render(<LiveView predict={predict} check={null} open={async () => stream} grab={grab} />);
    await flush();
    await act(async () => waiting[0].reject(new ApiError('network', 0)));
    expect(await screen.findByTestId('live-error')).toHaveTextContent('could not be reached');
    expect(track.stop).toHaveBeenCalled();
  });

  it('turns the camera off when the tab is hidden and when the mode is left', async () => {
    const { stream, track } = fakeStream();
    const { predict, waiting } = controlledPredict();
    const view = render(<LiveView predict={predict} check={null} open={async () => stream} grab={grab} />);
    await flush();
    await act(async () => waiting[0].resolve(response([withDistribution([10, 10, 110, 130], 35)], 640, 480)));
    expect(screen.getAllByTestId('live-box')).toHaveLength(1);

    const visibility = vi.spyOn(document, 'visibilityState', 'get').mockReturnValue('hidden');
    await act(async () => document.dispatchEvent(new Event('visibilitychange')));
    expect(track.stop).toHaveBeenCalledTimes(1);
    expect(screen.queryAllByTestId('live-box')).toHaveLength(0); // the track ended
    expect(screen.getByTestId('live-paused')).toBeInTheDocument();
    visibility.mockRestore();

    await act(async () => screen.getByRole('button', { name: 'Resume live' }).click());
    await flush();
    expect(screen.getByTestId('live-view')).toHaveAttribute('data-phase', 'running');
    view.unmount();
    expect(track.stop).toHaveBeenCalledTimes(2);
  });
});
