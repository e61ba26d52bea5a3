/**
 * Live mode: the camera preview with a box and an age on every face, updated as answers arrive.
 * Frames go to POST /predict?distribution=true one at a time (live/frameLoop.ts); faces are
 * followed by box overlap and each track's age comes from its recent frames (live/tracker.ts).
 * Nothing is kept: frames live in one canvas, tracks in memory, both gone when the mode is left.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { PredictFn } from '../api/client';
import type { PredictResponse } from '../api/types';
import { ApiError, errorSentence } from '../api/errors';
import { formatInterval } from '../lib/format';
import { cameraProblem, grabFrame, openCamera, stopCamera } from '../live/camera';
import { RateMeter, runFrameLoop } from '../live/frameLoop';
import { EMPTY_TRACKER, type Track, type TrackerState, update } from '../live/tracker';
import { VerdictBadge } from './CheckBadge';
import { boxStyle } from './FaceOverlay';

interface Props {
  predict: PredictFn;
  /** The age check chosen with the page's control (null: off). */
  check: number | null;
  /** Injected in component tests. */
  open?: () => Promise<MediaStream>;
  grab?: (video: HTMLVideoElement, canvas: HTMLCanvasElement) => Promise<Blob | null>;
  /** The model that answered (the footer names it). */
  onModel?: (model: PredictResponse['model']) => void;
}

type Phase = 'starting' | 'running' | 'paused' | 'failed';

/** Without a Retry-After, a 503 is retried after this long. */
const BUSY_RETRY_MS = 2000;

interface Shown {
  tracker: TrackerState;
  width: number;
  height: number;
  grabbedAt: number;
}

/** On the picture: the age (the interval on hover) and the short verdict, like a photo's labels. */
function TrackLabel({ track }: { track: Track }) {
  const interval = formatInterval(track.interval);
  return (
    <span className="face-label">
      <span data-testid="live-age">{track.shownAge}</span>
      {interval && <span className="face-interval">{` · ${interval}`}</span>}
      {track.check && <VerdictBadge check={track.check} compact />}
    </span>
  );
}

export function LiveView({ predict, check, open = openCamera, grab = grabFrame, onModel }: Props) {
  const [phase, setPhase] = useState<Phase>('starting');
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [shown, setShown] = useState<Shown | null>(null);
  const [fps, setFps] = useState<number | null>(null);
  const [latency, setLatency] = useState<number | null>(null);
  const [answers, setAnswers] = useState(0);
  const video = useRef<HTMLVideoElement>(null);
  const canvas = useRef<HTMLCanvasElement | null>(null);
  const stream = useRef<MediaStream | null>(null);
  const controller = useRef<AbortController | null>(null);
  const tracker = useRef<TrackerState>(EMPTY_TRACKER);
  const meter = useRef(new RateMeter());
  const checkRef = useRef(check);
  checkRef.current = check;
  const modelRef = useRef(onModel);
  modelRef.current = onModel;

  /** Camera off, loop stopped, tracks ended. */
  const stop = useCallback(() => {
    controller.current?.abort();
    controller.current = null;
    stopCamera(stream.current);
    stream.current = null;
    if (video.current) video.current.srcObject = null;
    tracker.current = EMPTY_TRACKER;
    meter.current.reset();
    setShown(null);
    setFps(null);
  }, []);

  const onError = useCallback(
    (error: unknown): number | null => {
      if (error instanceof ApiError && error.kind === 'http' && error.status === 503) {
        setNotice(`${errorSentence(error)} Live mode keeps trying by itself.`);
        return (error.retryAfter ?? 0) > 0 ? (error.retryAfter ?? 0) * 1000 : BUSY_RETRY_MS;
      }
      stop();
      setProblem(errorSentence(error));
      setPhase('failed');
      return null;
    },
    [stop],
  );

  const start = useCallback(async () => {
    stop();
    setProblem(null);
    setNotice(null);
    setPhase('starting');
    const loop = new AbortController();
    controller.current = loop;
    try {
      const opened = await open();
      if (loop.signal.aborted) {
        stopCamera(opened);
        return;
      }
      stream.current = opened;
    } catch (error) {
      if (loop.signal.aborted) return;
      setProblem(cameraProblem(error));
      setPhase('failed');
      return;
    }
    const element = video.current;
    if (element) {
      element.srcObject = stream.current;
      void element.play?.()?.catch(() => undefined);
    }
    setPhase('running');
    canvas.current ??= document.createElement('canvas');
    await runFrameLoop({
      signal: loop.signal,
      grab: () => (video.current && canvas.current ? grab(video.current, canvas.current) : Promise.resolve(null)),
      send: (frame, signal) => predict(frame, 'frame.jpg', { signal, distribution: true }),
      onAnswer: (answer, timing) => {
        tracker.current = update(tracker.current, answer.faces, checkRef.current);
        modelRef.current?.(answer.model);
        meter.current.add(timing.answeredAt);
        setNotice(null);
        setFps(meter.current.rate());
        setAnswers((n) => n + 1);
        setShown({
          tracker: tracker.current,
          width: answer.image.width,
          height: answer.image.height,
          grabbedAt: timing.grabbedAt,
        });
      },
      onError,
    });
  }, [grab, onError, open, predict, stop]);

  // Start on entering the mode; camera off on leaving it.
  useEffect(() => {
    void start();
    return stop;
  }, [start, stop]);

  // A hidden tab gets no camera: stopped, and resumed only when the person asks.
  useEffect(() => {
    const onVisibility = () => {
      if (document.visibilityState !== 'hidden') return;
      stop();
      setNotice(null);
      setPhase((current) => (current === 'failed' ? current : 'paused'));
    };
    document.addEventListener('visibilitychange', onVisibility);
    return () => document.removeEventListener('visibilitychange', onVisibility);
  }, [stop]);

  // Frame-to-box time: from grabbing the frame to the first animation frame after its boxes are drawn.
  useEffect(() => {
    if (!shown) return;
    const id = requestAnimationFrame(() => setLatency(performance.now() - shown.grabbedAt));
    return () => cancelAnimationFrame(id);
  }, [shown]);

  const inView = shown ? shown.tracker.tracks.filter((track) => track.misses === 0) : [];
  const running = phase === 'running';

  return (
    <section
      className="live"
      aria-label="Live camera"
      data-testid="live-view"
      data-phase={phase}
      data-answers={answers}
      data-fps={fps === null ? '' : fps.toFixed(2)}
      data-latency-ms={latency === null ? '' : latency.toFixed(0)}
    >
      {problem && (
        <p className="error" role="alert" data-testid="live-error">
          {problem}
        </p>
      )}
      {notice && (
        <p className="note" role="status" data-testid="live-notice">
          {notice}
        </p>
      )}
      {phase === 'paused' && (
        <p className="note" data-testid="live-paused">
          The camera was turned off while this tab was hidden.
        </p>
      )}
      {(phase === 'paused' || phase === 'failed') && (
        <div className="picker-actions">
          <button type="button" className="primary" onClick={() => void start()}>
            {phase === 'paused' ? 'Resume live' : 'Try live again'}
          </button>
        </div>
      )}
      <div className={`photo-frame live-frame${running ? '' : ' hidden'}`}>
        <video ref={video} autoPlay playsInline muted aria-label="Live camera preview" />
        <div className="overlay" aria-hidden="true">
          {shown?.tracker.tracks.map((track) => (
            <div
              key={track.id}
              data-testid="live-box"
              data-track={track.id}
              data-age={track.age.toFixed(2)}
              data-frame-age={track.frameAge.toFixed(2)}
              data-stale={track.misses > 0 ? 'true' : undefined}
              className={`face-box${track.misses > 0 ? ' stale' : ''}`}
              style={boxStyle(track, shown.width, shown.height)}
            >
              <TrackLabel track={track} />
            </div>
          ))}
        </div>
      </div>
      {running && (
        <>
          <p className="live-stats">
            <span role="status" data-testid="live-count">
              {inView.length === 1 ? '1 face in view' : `${inView.length} faces in view`}
            </span>
            {fps !== null && (
              <span data-testid="live-fps">
                {' · '}
                {fps.toFixed(1)} frames/s
                {latency !== null && ` · ${Math.round(latency)} ms from frame to box`}
              </span>
            )}
          </p>
          {check !== null && (
            <p className="note">
              Age check {check}+ from each face's recent frames: a verdict appears only when at least 90 % sure;
              otherwise ask for ID. Estimates from a face are not proof of age.
            </p>
          )}
          <ol className="face-list live-list" aria-label="Faces in view">
            {inView.map((track) => (
              <li key={track.id} className="face-item" data-testid="live-item">
                <span className="face-number">Face {track.id}</span>
                <span className="face-age">{track.shownAge} years</span>
                {formatInterval(track.interval) && (
                  <span className="face-range">likely {formatInterval(track.interval)}</span>
                )}
                {track.check && <VerdictBadge check={track.check} />}
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}
