/** What the service found: the marked photo, a face list, sizes and caveats. */
import { useMemo, useState } from 'react';
import type { PredictResponse } from '../api/types';
import { formatBytes } from '../lib/format';
import type { PreparedUpload } from '../lib/prepareImage';
import { FaceList } from './FaceList';
import { FaceOverlay } from './FaceOverlay';

interface Props {
  result: PredictResponse;
  imageUrl: string;
  upload: Pick<PreparedUpload, 'originalBytes' | 'uploadedBytes' | 'compressed'>;
  /** The age check whose verdicts to show (null: none). */
  check?: number | null;
}

/** Left to right, then top to bottom: the order a person scans a group photo. */
function readingOrder(result: PredictResponse): number[] {
  const centre = (i: number) => {
    const [x1, y1, x2, y2] = result.faces[i].box;
    return { x: (x1 + x2) / 2, y: (y1 + y2) / 2 };
  };
  return result.faces
    .map((_, i) => i)
    .sort((a, b) => centre(a).x - centre(b).x || centre(a).y - centre(b).y);
}

export function ResultView({ result, imageUrl, upload, check = null }: Props) {
  const [selected, setSelected] = useState<number | null>(null);
  const order = useMemo(() => readingOrder(result), [result]);
  const numbers = useMemo(() => {
    const byIndex: number[] = [];
    order.forEach((index, position) => {
      byIndex[index] = position + 1;
    });
    return byIndex;
  }, [order]);
  const count = result.faces.length;
  const toggle = (index: number) => setSelected((current) => (current === index ? null : index));

  const sizes = (
    <p className="sizes">
      Original {formatBytes(upload.originalBytes)}
      {upload.compressed ? ` → uploaded ${formatBytes(upload.uploadedBytes)}` : ' (uploaded as is)'} ·{' '}
      {result.image.width} × {result.image.height} px
    </p>
  );

  if (count === 0) {
    return (
      <section className="result" aria-label="Result">
        <p className="no-faces" data-testid="no-faces" role="status">
          No faces were found in this photo. Try one where faces are clearly visible, facing the camera and not
          too small.
        </p>
        {sizes}
        <img className="photo thumbnail" src={imageUrl} alt="The photo you chose, in which no faces were found" />
      </section>
    );
  }

  return (
    <section className="result" aria-label="Result">
      <h2 className="result-title">
        {count === 1 ? '1 face found' : `${count} faces found`}
      </h2>
      {sizes}
      {check !== null && (
        <p className="note">
          Age check {check}+: a verdict appears only when the estimate is at least 90 % sure; otherwise ask for ID.
          Estimates from a face are not proof of age.
        </p>
      )}
      {result.truncated && (
        <p className="note">This photo has more faces than the service examines at once; only these are shown.</p>
      )}
      <div className="result-grid">
        <FaceOverlay
          imageUrl={imageUrl}
          width={result.image.width}
          height={result.image.height}
          faces={result.faces}
          numbers={numbers}
          selected={selected}
          onSelect={toggle}
          check={check}
          alt={`Your photo with ${count === 1 ? 'one face' : `${count} faces`} marked and labelled with estimated ages`}
        />
        <FaceList
          faces={result.faces}
          order={order}
          numbers={numbers}
          selected={selected}
          onSelect={toggle}
          check={check}
        />
      </div>
    </section>
  );
}
