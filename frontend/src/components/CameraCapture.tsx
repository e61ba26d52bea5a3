/** Takes a still from the webcam; offered only where the browser reports a camera. */
import { useEffect, useRef, useState } from 'react';

interface Props {
  disabled: boolean;
  onCapture: (file: File) => void;
  /** Live mode (the camera preview with ages updated continuously): on, and how to switch it. */
  live?: boolean;
  onLiveChange?: (live: boolean) => void;
}

/** True when getUserMedia exists and at least one video input is present. */
export async function cameraAvailable(devices: MediaDevices | undefined = navigator.mediaDevices): Promise<boolean> {
  if (!devices?.getUserMedia || !devices.enumerateDevices) return false;
  try {
    return (await devices.enumerateDevices()).some((device) => device.kind === 'videoinput');
  } catch {
    return false;
  }
}

export function CameraCapture({ disabled, onCapture, live = false, onLiveChange }: Props) {
  const [available, setAvailable] = useState(false);
  const [open, setOpen] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const video = useRef<HTMLVideoElement>(null);
  const stream = useRef<MediaStream | null>(null);

  useEffect(() => {
    let live = true;
    void cameraAvailable().then((yes) => live && setAvailable(yes));
    return () => {
      live = false;
    };
  }, []);

  /** Turns the camera off (its light too) and forgets the stream. */
  const release = () => {
    stream.current?.getTracks().forEach((track) => track.stop());
    stream.current = null;
  };

  const stop = () => {
    release();
    setOpen(false);
  };

  useEffect(() => release, []);

  // The <video> exists only after React commits the open state, so the stream is attached here,
  // not in start(): a timer or animation frame there can fire before the commit on a busy machine.
  useEffect(() => {
    const element = video.current;
    if (!open || !element || !stream.current) return;
    element.srcObject = stream.current;
    void element.play().catch(() => undefined);
  }, [open]);

  const start = async () => {
    setProblem(null);
    try {
      stream.current = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user' }, audio: false });
      setOpen(true);
    } catch {
      setProblem('The camera could not be opened. Check that this page may use it.');
    }
  };

  const capture = () => {
    const element = video.current;
    if (!element || !element.videoWidth) return;
    const canvas = document.createElement('canvas');
    canvas.width = element.videoWidth;
    canvas.height = element.videoHeight;
    canvas.getContext('2d')?.drawImage(element, 0, 0);
    canvas.toBlob(
      (blob) => {
        stop();
        if (blob) onCapture(new File([blob], 'camera.jpg', { type: 'image/jpeg' }));
      },
      'image/jpeg',
      0.9,
    );
  };

  if (!available) return null;
  return (
    <>
      {!open && (
        <button type="button" disabled={disabled || live} onClick={() => void start()}>
          Take a photo with the camera
        </button>
      )}
      {!open && onLiveChange && (
        <button type="button" aria-pressed={live} disabled={disabled && !live} onClick={() => onLiveChange(!live)}>
          {live ? 'Stop live' : 'Live'}
        </button>
      )}
      {problem && <p className="note">{problem}</p>}
      {open && (
        <div className="camera" role="group" aria-label="Camera">
          <video ref={video} autoPlay playsInline muted aria-label="Camera preview" />
          <div className="picker-actions">
            <button type="button" className="primary" onClick={capture} autoFocus>
              Take photo
            </button>
            <button type="button" onClick={stop}>
              Cancel
            </button>
          </div>
        </div>
      )}
    </>
  );
}
