import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from './App';
import type { PredictFn, PredictOptions } from './api/client';
import { ApiError, MESSAGES } from './api/errors';
import type { PredictResponse } from './api/types';
import type { PrepareFn } from './lib/prepareImage';
import { face, photo, response } from './test/fixtures';

/** Stands in for the browser-side shrinking, which needs a real canvas (covered end to end). */
const prepare: PrepareFn = async (file) => ({
  file,
  filename: file.name,
  originalBytes: 2_000_000,
  uploadedBytes: 200_000,
  compressed: true,
});

/** A service answer the test releases when it wants to. */
function controlledPredict() {
  let release: (value: PredictResponse) => void = () => undefined;
  let fail: (error: unknown) => void = () => undefined;
  let options: PredictOptions | undefined;
  const predict = vi.fn<PredictFn>((_file, _name, opts) => {
    options = opts;
    return new Promise<PredictResponse>((resolve, reject) => {
      release = resolve;
      fail = reject;
    });
  });
  return { predict, release: (v: PredictResponse) => release(v), fail: (e: unknown) => fail(e), options: () => options };
}

const fileInput = () => screen.getByTestId('file-input') as HTMLInputElement;

describe('App', () => {
  it('uploads a chosen photo, shows progress, then boxes, labels and the model version', async () => {
    const user = userEvent.setup();
    const service = controlledPredict();
    render(<App predict={service.predict} prepare={prepare} />);
    expect(screen.getByTestId('model-info')).toHaveTextContent('after your first photo');

    await user.upload(fileInput(), photo('family.jpg'));
    await waitFor(() => expect(service.predict).toHaveBeenCalledTimes(1));
    expect(service.predict.mock.calls[0][1]).toBe('family.jpg');

    act(() => service.options()?.onUploadProgress?.(0.42));
    expect(screen.getByTestId('progress')).toHaveTextContent('Uploading… 42%');
    act(() => service.options()?.onUploaded?.());
    expect(screen.getByTestId('progress')).toHaveTextContent('Finding faces and estimating ages…');
    expect(screen.getByRole('button', { name: 'Choose a photo' })).toBeDisabled();

    await act(async () => service.release(response([face([100, 50, 200, 250], 33.5), face([600, 100, 700, 300], 61.2)])));
    expect(screen.queryByTestId('progress')).not.toBeInTheDocument();
    expect(screen.getAllByTestId('face-age').map((el) => el.textContent)).toEqual(['34', '61']);
    expect(screen.getByTestId('model-info')).toHaveTextContent('Answered by model age-resnet50, version 1.2.3.');
    expect(screen.getByRole('button', { name: 'Choose a photo' })).toBeEnabled();
  });

  it('cannot start a second upload while one is running', async () => {
    const service = controlledPredict();
    render(<App predict={service.predict} prepare={prepare} />);
    fireEvent.change(fileInput(), { target: { files: [photo('one.jpg')] } });
    await waitFor(() => expect(service.predict).toHaveBeenCalledTimes(1));
    // Even a drop or paste, which bypass the disabled button, are ignored.
    fireEvent.drop(window, { dataTransfer: { files: [photo('two.jpg')], types: ['Files'] } });
    fireEvent.paste(window, { clipboardData: { files: [photo('three.jpg')], items: [] } });
    expect(screen.getByRole('button', { name: 'Choose a photo' })).toBeDisabled();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(service.predict).toHaveBeenCalledTimes(1);
  });

  it('takes a photo dropped anywhere on the page', async () => {
    const service = controlledPredict();
    render(<App predict={service.predict} prepare={prepare} />);
    fireEvent.dragEnter(window, { dataTransfer: { types: ['Files'] } });
    expect(screen.getByText('Drop the photo to analyse it')).toBeInTheDocument();
    fireEvent.drop(window, { dataTransfer: { files: [photo('dropped.png', 'image/png')], types: ['Files'] } });
    await waitFor(() => expect(service.predict).toHaveBeenCalledTimes(1));
    expect(service.predict.mock.calls[0][1]).toBe('dropped.png');
  });

  it('takes a pasted photo', async () => {
    const service = controlledPredict();
    render(<App predict={service.predict} prepare={prepare} />);
    const pasted = photo('clipboard.png', 'image/png');
    fireEvent.paste(window, { clipboardData: { files: [], items: [{ kind: 'file', getAsFile: () => pasted }] } });
    await waitFor(() => expect(service.predict).toHaveBeenCalledTimes(1));
    expect(service.predict.mock.calls[0][0]).toBe(pasted);
  });

  it.each([
    [new ApiError('http', 413), MESSAGES.tooLarge],
    [new ApiError('http', 415), MESSAGES.notAnImage],
    [new ApiError('http', 400), MESSAGES.broken],
    [new ApiError('http', 503), MESSAGES.notReady],
    [new ApiError('network', 0), MESSAGES.network],
  ])('shows a plain sentence for %s', async (error, sentence) => {
    const service = controlledPredict();
    render(<App predict={service.predict} prepare={prepare} />);
    fireEvent.change(fileInput(), { target: { files: [photo()] } });
    await waitFor(() => expect(service.predict).toHaveBeenCalled());
    await act(async () => service.fail(error));
    expect(screen.getByTestId('error')).toHaveTextContent(sentence);
    expect(screen.getByRole('alert')).toBe(screen.getByTestId('error'));
    expect(screen.queryAllByTestId('face-box')).toHaveLength(0);
    expect(screen.getByRole('button', { name: 'Choose a photo' })).toBeEnabled();
  });

  it('replaces an old result with the no-face message for the next photo', async () => {
    const service = controlledPredict();
    render(<App predict={service.predict} prepare={prepare} />);
    fireEvent.change(fileInput(), { target: { files: [photo('people.jpg')] } });
    await waitFor(() => expect(service.predict).toHaveBeenCalledTimes(1));
    await act(async () => service.release(response([face([1, 1, 80, 80], 25)])));
    expect(screen.getAllByTestId('face-box')).toHaveLength(1);

    fireEvent.change(fileInput(), { target: { files: [photo('landscape.jpg')] } });
    await waitFor(() => expect(service.predict).toHaveBeenCalledTimes(2));
    await act(async () => service.release(response([])));
    expect(screen.getByTestId('no-faces')).toBeInTheDocument();
    expect(screen.queryAllByTestId('face-box')).toHaveLength(0);
  });

  it('reaches the photo button from the keyboard and opens the file chooser', async () => {
    const user = userEvent.setup();
    render(<App predict={controlledPredict().predict} prepare={prepare} />);
    const click = vi.spyOn(fileInput(), 'click');
    await user.tab();
    expect(screen.getByRole('button', { name: 'Choose a photo' })).toHaveFocus();
    await user.keyboard('{Enter}');
    expect(click).toHaveBeenCalled();
  });

  it('offers no camera button where there is no camera', () => {
    render(<App predict={controlledPredict().predict} prepare={prepare} />);
    expect(screen.queryByRole('button', { name: /camera/i })).not.toBeInTheDocument();
  });

  it('tells people photos are not stored and ages are estimates', () => {
    render(<App predict={controlledPredict().predict} prepare={prepare} />);
    expect(screen.getByText(/never stored/)).toBeInTheDocument();
    expect(screen.getByText(/Ages are estimates/)).toBeInTheDocument();
  });

  it('asks for the chosen age check, remembers it, and re-asks for the photo on screen when it changes', async () => {
    localStorage.clear();
    const user = userEvent.setup();
    const service = controlledPredict();
    const { unmount } = render(<App predict={service.predict} prepare={prepare} />);
    expect(screen.getByRole('radio', { name: 'off' })).toBeChecked();
    await user.click(screen.getByRole('radio', { name: '18+' }));
    expect(service.predict).not.toHaveBeenCalled(); // nothing on screen yet: only remembered

    await user.upload(fileInput(), photo('door.jpg'));
    await waitFor(() => expect(service.predict).toHaveBeenCalledTimes(1));
    expect(service.options()?.thresholds).toEqual([18]);
    const checked = (age: number, p: number, verdict: 'over' | 'under' | 'uncertain') => ({
      ...face([100, 50, 200, 250], age),
      age_checks: [{ threshold: 18, p_over: p, verdict }],
    });
    await act(async () => service.release(response([checked(40, 0.973, 'over')])));
    // On the photo the short form, in the face list the full sentence.
    expect(screen.getAllByTestId('check-badge').map((el) => el.textContent)).toEqual(['over 18', 'over 18 · 97 %']);

    await user.click(screen.getByRole('radio', { name: '21+' }));
    await waitFor(() => expect(service.predict).toHaveBeenCalledTimes(2));
    expect(service.predict.mock.calls[1][0]).toBe(service.predict.mock.calls[0][0]); // the same photo, not a new pick
    expect(service.options()?.thresholds).toEqual([21]);
    unmount();

    render(<App predict={service.predict} prepare={prepare} />);
    expect(screen.getByRole('radio', { name: '21+' })).toBeChecked();
    await user.click(screen.getByRole('radio', { name: 'off' }));
    expect(localStorage.getItem('age-check')).toBe('off');
  });
});

describe('App in live mode', () => {
  it('enters live mode with the Live button and leaves it (camera off) when a photo is chosen', async () => {
    const user = userEvent.setup();
    const stop = vi.fn();
    const stream = { getTracks: () => [{ stop }] } as unknown as MediaStream;
    vi.spyOn(HTMLMediaElement.prototype, 'play').mockResolvedValue(undefined);
    vi.stubGlobal('navigator', {
      ...navigator,
      mediaDevices: {
        enumerateDevices: async () => [{ kind: 'videoinput' }],
        getUserMedia: vi.fn(async () => stream),
      },
    });
    try {
      const service = controlledPredict();
      render(<App predict={service.predict} prepare={prepare} />);
      await user.click(await screen.findByRole('button', { name: 'Live' }));
      expect(await screen.findByTestId('live-view')).toHaveAttribute('data-phase', 'running');
      expect(screen.getByRole('button', { name: 'Take a photo with the camera' })).toBeDisabled();

      await user.upload(fileInput(), photo('family.jpg'));
      expect(screen.queryByTestId('live-view')).not.toBeInTheDocument();
      expect(stop).toHaveBeenCalled();
      expect(screen.getByRole('button', { name: 'Live' })).toHaveAttribute('aria-pressed', 'false');
      await waitFor(() => expect(service.predict).toHaveBeenCalledTimes(1));
      expect(service.options()?.distribution).toBeUndefined(); // a photo is asked as before
    } finally {
      vi.unstubAllGlobals();
      vi.restoreAllMocks();
    }
  });
});
