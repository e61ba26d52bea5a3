/** The camera for live mode: open it, read a scaled JPEG frame, say plainly why it did not open. */
import settings from './settings.json';

export const CAMERA_MESSAGES = {
  denied: 'The page may not use the camera. Allow camera access for this site in the browser, then try again.',
  missing: 'No camera was found. Connect one, or choose a photo instead.',
  busy: 'The camera is in use by another app or could not be started. Close that app and try again.',
  unsupported: 'This browser cannot give the page a camera picture. Choose a photo instead.',
  failed: 'The camera could not be opened. Check that this page may use it.',
} as const;

export function cameraProblem(error: unknown): string {
  const name = error instanceof Error || error instanceof DOMException ? error.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return CAMERA_MESSAGES.denied;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return CAMERA_MESSAGES.missing;
    case 'NotReadableError':
    case 'AbortError':
      return CAMERA_MESSAGES.busy;
    case 'TypeError':
      return CAMERA_MESSAGES.unsupported;
    default:
      return CAMERA_MESSAGES.failed;
  }
}

export async function openCamera(devices: MediaDevices | undefined = navigator.mediaDevices): Promise<MediaStream> {
  if (!devices?.getUserMedia) throw new TypeError('getUserMedia is not available');
  return devices.getUserMedia({
    video: { facingMode: 'user', width: { ideal: settings.maxSide }, height: { ideal: settings.maxSide } },
    audio: false,
  });
}

/** Turns the camera off (and its light). */
export function stopCamera(stream: MediaStream | null): void {
  stream?.getTracks().forEach((track) => track.stop());
}

/** The frame size sent: the video's, scaled so its long side is at most `maxSide`. */
export function frameSize(width: number, height: number, maxSide: number = settings.maxSide): [number, number] {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/** The video's current picture, scaled and JPEG-encoded in the browser; null before the first picture. */
export function grabFrame(video: HTMLVideoElement, canvas: HTMLCanvasElement): Promise<Blob | null> {
  if (!video.videoWidth || !video.videoHeight) return Promise.resolve(null);
  const [width, height] = frameSize(video.videoWidth, video.videoHeight);
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')?.drawImage(video, 0, 0, width, height);
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', settings.jpegQuality));
}
