/**
 * The photo with a box and an age label on every face. Boxes are placed in
 * percent of the image, so they stay on their faces however the page resizes.
 */
import type { CSSProperties } from 'react';
import type { Face } from '../api/types';
import { formatInterval, roundAge } from '../lib/format';
import { CheckBadge } from './CheckBadge';

/** From this many faces on, labels and borders get smaller so crowds stay readable. */
export const CROWD_SIZE = 25;

interface Props {
  imageUrl: string;
  width: number;
  height: number;
  faces: Face[];
  /** Reading-order number of each face (index into `faces` -> number shown in the list). */
  numbers: number[];
  selected: number | null;
  onSelect: (index: number) => void;
  alt: string;
  check?: number | null;
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/** A box's place in percent of the picture, clipped to it (also used by the live view). */
export function boxStyle(face: { box: readonly [number, number, number, number] }, width: number, height: number): CSSProperties {
  const [x1, y1, x2, y2] = face.box;
  const left = clamp(x1, 0, width);
  const top = clamp(y1, 0, height);
  const right = clamp(x2, 0, width);
  const bottom = clamp(y2, 0, height);
  return {
    left: `${(left / width) * 100}%`,
    top: `${(top / height) * 100}%`,
    width: `${((right - left) / width) * 100}%`,
    height: `${((bottom - top) / height) * 100}%`,
  };
}

export function FaceOverlay({ imageUrl, width, height, faces, numbers, selected, onSelect, alt, check = null }: Props) {
  const crowded = faces.length >= CROWD_SIZE;
  const frameStyle = {
    aspectRatio: `${width} / ${height}`,
    // Fit the whole photo on screen: as wide as allowed, but never taller than 75% of the viewport.
    width: `min(100%, calc(75vh * ${width / height}))`,
  } satisfies CSSProperties;

  return (
    <div className={`photo-frame${crowded ? ' crowded' : ''}`} style={frameStyle}>
      <img className="photo" src={imageUrl} alt={alt} draggable={false} />
      {/* The list below carries the same facts for screen readers and keyboards. */}
      <div className="overlay" aria-hidden="true">
        {faces.map((face, index) => {
          const interval = formatInterval(face.age_interval);
          const nearTop = face.box[1] / height < 0.06;
          const nearRight = face.box[0] / width > 0.88;
          const isSelected = selected === index;
          return (
            <div
              key={index}
              data-testid="face-box"
              data-index={index}
              data-face={numbers[index]}
              className={`face-box${isSelected ? ' selected' : ''}${nearTop ? ' label-inside' : ''}${nearRight ? ' label-right' : ''}`}
              style={boxStyle(face, width, height)}
              title={`Face ${numbers[index]}: about ${roundAge(face.age)}${interval ? ` (likely ${interval})` : ''}`}
              onClick={() => onSelect(index)}
            >
              <span className="face-label">
                <span data-testid="face-age">{roundAge(face.age)}</span>
                {interval && <span className="face-interval">{` · ${interval}`}</span>}
                <CheckBadge face={face} threshold={check} compact />
              </span>
            </div>
          );
        })}
      </div>
    </div>
  );
}
