/**
 * The ways in: a button, dropping a file anywhere on the page, or pasting one.
 * Window-wide listeners so a drop or paste works wherever the pointer or focus is.
 */
import { useEffect, useRef, useState } from 'react';

interface Props {
  disabled: boolean;
  onFile: (file: File) => void;
  children?: React.ReactNode;
}

function firstFile(list: FileList | null | undefined): File | null {
  return list && list.length > 0 ? list[0] : null;
}

function pastedFile(data: DataTransfer | null): File | null {
  if (!data) return null;
  const direct = firstFile(data.files);
  if (direct) return direct;
  for (const item of Array.from(data.items ?? [])) {
    if (item.kind === 'file') {
      const file = item.getAsFile();
      if (file) return file;
    }
  }
  return null;
}

export function PhotoPicker({ disabled, onFile, children }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  // Listeners read the latest props without being re-attached on every render.
  const latest = useRef({ disabled, onFile });
  latest.current = { disabled, onFile };

  useEffect(() => {
    let depth = 0;
    const hasFiles = (event: DragEvent) => Array.from(event.dataTransfer?.types ?? []).includes('Files');
    const onDragEnter = (event: DragEvent) => {
      if (!hasFiles(event)) return;
      depth += 1;
      setDragging(true);
    };
    const onDragLeave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const onDragOver = (event: DragEvent) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = latest.current.disabled ? 'none' : 'copy';
    };
    const onDrop = (event: DragEvent) => {
      depth = 0;
      setDragging(false);
      const file = firstFile(event.dataTransfer?.files);
      if (!file) return;
      event.preventDefault();
      if (!latest.current.disabled) latest.current.onFile(file);
    };
    const onPaste = (event: ClipboardEvent) => {
      const file = pastedFile(event.clipboardData);
      if (!file) return;
      event.preventDefault();
      if (!latest.current.disabled) latest.current.onFile(file);
    };
    window.addEventListener('dragenter', onDragEnter);
    window.addEventListener('dragleave', onDragLeave);
    window.addEventListener('dragover', onDragOver);
    window.addEventListener('drop', onDrop);
    window.addEventListener('paste', onPaste);
    return () => {
      window.removeEventListener('dragenter', onDragEnter);
      window.removeEventListener('dragleave', onDragLeave);
      window.removeEventListener('dragover', onDragOver);
      window.removeEventListener('drop', onDrop);
      window.removeEventListener('paste', onPaste);
    };
  }, []);

  return (
    <section className={`drop-zone${dragging ? ' dragging' : ''}`} aria-label="Your photo">
      <p className="drop-hint">
        {dragging ? 'Drop the photo to analyse it' : 'Drop a photo anywhere on this page, paste one, or'}
      </p>
      <div className="picker-actions">
        <button type="button" className="primary" disabled={disabled} onClick={() => input.current?.click()}>
          Choose a photo
        </button>
        {children}
      </div>
      <input
        ref={input}
        className="visually-hidden"
        type="file"
        accept="image/*"
        tabIndex={-1}
        aria-label="Photo file"
        data-testid="file-input"
        disabled={disabled}
        onChange={(event) => {
          const file = firstFile(event.currentTarget.files);
          // Reset so choosing the same file again still triggers a new analysis.
          event.currentTarget.value = '';
          if (file) onFile(file);
        }}
      />
    </section>
  );
}
