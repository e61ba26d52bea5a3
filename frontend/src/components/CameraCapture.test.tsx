import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CameraCapture, cameraAvailable } from './CameraCapture';

function devices(kinds: MediaDeviceKind[]): MediaDevices {
  return {
    getUserMedia: vi.fn(),
    enumerateDevices: async () => kinds.map((kind) => ({ kind }) as MediaDeviceInfo),
  } as unknown as MediaDevices;
}

describe('camera', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('is offered only when a video input exists', async () => {
    expect(await cameraAvailable(devices(['audioinput', 'videoinput']))).toBe(true);
    expect(await cameraAvailable(devices(['audioinput']))).toBe(false);
    expect(await cameraAvailable(undefined)).toBe(false);
  });

  it('shows its button on a device with a camera', async () => {
    vi.stubGlobal('navigator', { ...navigator, mediaDevices: devices(['videoinput']) });
    render(<CameraCapture disabled={false} onCapture={() => undefined} />);
    expect(await screen.findByRole('button', { name: 'Take a photo with the camera' })).toBeEnabled();
  });

  it('offers a Live toggle next to it when the page has live mode', async () => {
    vi.stubGlobal('navigator', { ...navigator, mediaDevices: devices(['videoinput']) });
    const onLiveChange = vi.fn();
    const view = render(<CameraCapture disabled={false} onCapture={() => undefined} live={false} onLiveChange={onLiveChange} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Live' }));
    expect(onLiveChange).toHaveBeenCalledWith(true);
    view.rerender(<CameraCapture disabled={false} onCapture={() => undefined} live onLiveChange={onLiveChange} />);
    expect(screen.getByRole('button', { name: 'Stop live' })).toHaveAttribute('aria-pressed', 'true');
    // no second stream while live runs
    expect(screen.getByRole('button', { name: 'Take a photo with the camera' })).toBeDisabled();
  });

  it('shows the live camera in the preview once it opens, and stops it on cancel', async () => {
    const stop = vi.fn();
    const stream = { getTracks: () => [{ stop }] } as unknown as MediaStream;
    const media = devices(['videoinput']);
    vi.mocked(media.getUserMedia).mockResolvedValue(stream);
    vi.stubGlobal('navigator', { ...navigator, mediaDevices: media });
    const play = vi.spyOn(HTMLMediaElement.prototype, 'play').mockResolvedValue(undefined);
    render(<CameraCapture disabled={false} onCapture={() => undefined} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Take a photo with the camera' }));
    const preview = (await screen.findByLabelText('Camera preview')) as HTMLVideoElement;
    await waitFor(() => expect(preview.srcObject).toBe(stream));
    expect(play).toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(stop).toHaveBeenCalled();
    expect(screen.queryByLabelText('Camera preview')).toBeNull();
    play.mockRestore();
  });
});

