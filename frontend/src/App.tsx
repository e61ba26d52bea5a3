/** The page: pick a photo, watch it upload, see every face with its estimated age. */
import { useCallback, useEffect, useRef, useState } from 'react';
import { createPredict, type PredictFn } from './api/client';
import { errorSentence } from './api/errors';
import type { PredictResponse } from './api/types';
import { AgeCheckControl, type CheckChoice, loadCheck, saveCheck } from './components/AgeCheckControl';
import { CameraCapture } from './components/CameraCapture';
import { LiveView } from './components/LiveView';
import { PhotoPicker } from './components/PhotoPicker';
import { ProgressStatus, type Step } from './components/ProgressStatus';
import { ResultView } from './components/ResultView';
import { prepareImage, type PrepareFn, type PreparedUpload } from './lib/prepareImage';

type State =
  | { kind: 'idle' }
  | { kind: 'busy'; step: Step }
  | { kind: 'done'; result: PredictResponse; upload: PreparedUpload; imageUrl: string }
  | { kind: 'failed'; message: string };

interface Props {
  /** Injected in component tests; the real page talks to the service. */
  predict?: PredictFn;
  prepare?: PrepareFn;
}

const defaultPredict = createPredict();

export default function App({ predict = defaultPredict, prepare = prepareImage }: Props) {
  const [state, setState] = useState<State>({ kind: 'idle' });
  const [model, setModel] = useState<PredictResponse['model'] | null>(null);
  // A ref, not state: a second click in the same tick must already see the page as busy.
  const busy = useRef(false);
  const controller = useRef<AbortController | null>(null);
  const imageUrl = useRef<string | null>(null);
  const [check, setCheck] = useState<CheckChoice>(() => loadCheck());
  const [live, setLive] = useState(false);
  // Read by `analyse` at call time, so a choice made just before an upload is the one asked for.
  const checkRef = useRef<CheckChoice>(check);

  const replaceImageUrl = (next: string | null) => {
    if (imageUrl.current) URL.revokeObjectURL(imageUrl.current);
    imageUrl.current = next;
  };

  useEffect(
    () => () => {
      controller.current?.abort();
      replaceImageUrl(null);
    },
    [],
  );

  /** A new photo (prepared first), or the photo already shown (asked again, e.g. for another check). */
  const analyse = useCallback(
    async (source: { file: File } | { upload: PreparedUpload }) => {
      if (busy.current) return;
      busy.current = true;
      controller.current = new AbortController();
      const { signal } = controller.current;
      replaceImageUrl(null);
      setState({ kind: 'busy', step: { kind: 'preparing' } });
      try {
        const upload = 'upload' in source ? source.upload : await prepare(source.file);
        setState({ kind: 'busy', step: { kind: 'uploading', fraction: 0 } });
        const chosen = checkRef.current;
        const result = await predict(upload.file, upload.filename, {
          signal,
          thresholds: chosen === null ? [] : [chosen],
          onUploadProgress: (fraction) =>
            setState((current) =>
              current.kind === 'busy' && current.step.kind === 'uploading'
                ? { kind: 'busy', step: { kind: 'uploading', fraction } }
                : current,
            ),
          onUploaded: () => setState({ kind: 'busy', step: { kind: 'analysing' } }),
        });
        const url = URL.createObjectURL(upload.file);
        replaceImageUrl(url);
        setModel(result.model);
        setState({ kind: 'done', result, upload, imageUrl: url });
      } catch (error) {
        if (!signal.aborted) setState({ kind: 'failed', message: errorSentence(error) });
      } finally {
        busy.current = false;
      }
    },
    [predict, prepare],
  );

  const changeCheck = (choice: CheckChoice) => {
    checkRef.current = choice;
    setCheck(choice);
    saveCheck(choice);
    // The photo on screen is asked again; the person does not upload it a second time.
    // (In live mode the tracks take the new check from their next frame.)
    if (state.kind === 'done' && !live) void analyse({ upload: state.upload });
  };

  /** Live mode reports the model on every answer: the footer changes only when it does. */
  const keepModel = useCallback(
    (next: PredictResponse['model']) =>
      setModel((current) => (current?.name === next.name && current.version === next.version ? current : next)),
    [],
  );

  /** A photo chosen (button, drop, paste, camera still) leaves live mode. */
  const choosePhoto = (file: File) => {
    setLive(false);
    void analyse({ file });
  };

  const isBusy = state.kind === 'busy';
  return (
    <div className="page">
      <header className="header">
        <h1>How old do they look?</h1>
        <p className="tagline">Find every face in a photo and see an estimated age for each.</p>
      </header>

      <main className="main" aria-busy={isBusy}>
        <PhotoPicker disabled={isBusy} onFile={choosePhoto}>
          <CameraCapture
            disabled={isBusy}
            onCapture={choosePhoto}
            live={live}
            onLiveChange={setLive}
          />
        </PhotoPicker>
        <AgeCheckControl value={check} disabled={isBusy} onChange={changeCheck} />

        {live && <LiveView predict={predict} check={check} onModel={keepModel} />}
        {!live && state.kind === 'busy' && <ProgressStatus step={state.step} />}
        {!live && state.kind === 'failed' && (
          <p className="error" role="alert" data-testid="error">
            {state.message}
          </p>
        )}
        {!live && state.kind === 'done' && (
          // key: a new photo starts with nothing selected.
          <ResultView
            key={state.imageUrl}
            result={state.result}
            imageUrl={state.imageUrl}
            upload={state.upload}
            check={check}
          />
        )}
      </main>

      <footer className="footer">
        <p>
          Photos are analysed in memory and never stored. Ages are estimates of how old a face looks, not facts, and
          can be off by several years.
        </p>
        <p data-testid="model-info">
          {model
            ? `Answered by model ${model.name}, version ${model.version}.`
            : 'The model that answers is named here after your first photo.'}
        </p>
      </footer>
    </div>
  );
}
