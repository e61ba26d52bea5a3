/** Every face as a button with its age and interval; choosing one highlights its box. */
import type { Face } from '../api/types';
import { formatInterval, roundAge } from '../lib/format';
import { CheckBadge } from './CheckBadge';

interface Props {
  faces: Face[];
  /** Indexes into `faces`, in the order to list them. */
  order: number[];
  numbers: number[];
  selected: number | null;
  onSelect: (index: number) => void;
  check?: number | null;
}

export function FaceList({ faces, order, numbers, selected, onSelect, check = null }: Props) {
  return (
    <ol className="face-list" aria-label="Faces found">
      {order.map((index) => {
        const face = faces[index];
        const interval = formatInterval(face.age_interval);
        return (
          <li key={index}>
            <button
              type="button"
              className="face-item"
              aria-pressed={selected === index}
              data-testid="face-item"
              onClick={() => onSelect(index)}
            >
              <span className="face-number">Face {numbers[index]}</span>
              <span className="face-age">{roundAge(face.age)} years</span>
              {interval && <span className="face-range">likely {interval}</span>}
              <CheckBadge face={face} threshold={check} />
            </button>
          </li>
        );
      })}
    </ol>
  );
}
