/** One line telling what is happening now, with a bar while the photo travels. */

export type Step =
  | { kind: 'preparing' }
  | { kind: 'uploading'; fraction: number }
  | { kind: 'analysing' };

export function ProgressStatus({ step }: { step: Step }) {
  const text =
    step.kind === 'preparing'
      ? 'Preparing the photo…'
      : step.kind === 'uploading'
        ? `Uploading… ${Math.round(step.fraction * 100)}%`
        : 'Finding faces and estimating ages…';
  return (
    <div className="progress" role="status" aria-live="polite" data-testid="progress">
      <span>{text}</span>
      {step.kind === 'uploading' ? (
        <progress max={1} value={step.fraction} aria-label="Upload progress" />
      ) : (
        <progress aria-label={text} />
      )}
    </div>
  );
}
