/** "Check age: off · 13+ · 18+ · 21+ · 25+": one choice, remembered across uploads and visits. */
export const CHECK_THRESHOLDS = [13, 18, 21, 25] as const;
export type CheckChoice = (typeof CHECK_THRESHOLDS)[number] | null;

const STORAGE_KEY = 'age-check';

export function loadCheck(storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): CheckChoice {
  try {
    const saved = Number(storage?.getItem(STORAGE_KEY));
    return (CHECK_THRESHOLDS as readonly number[]).includes(saved) ? (saved as CheckChoice) : null;
  } catch {
    return null; // storage may be blocked (private mode, sandboxed frame)
  }
}

export function saveCheck(choice: CheckChoice, storage: Pick<Storage, 'setItem'> | undefined = globalThis.localStorage) {
  try {
    storage?.setItem(STORAGE_KEY, choice === null ? 'off' : String(choice));
  } catch {
    // not remembered, still applied
  }
}

interface Props {
  value: CheckChoice;
  disabled: boolean;
  onChange: (choice: CheckChoice) => void;
}

export function AgeCheckControl({ value, disabled, onChange }: Props) {
  const choices: CheckChoice[] = [null, ...CHECK_THRESHOLDS];
  return (
    <fieldset className="age-check" disabled={disabled} data-testid="age-check">
      <legend>Check age</legend>
      {choices.map((choice) => {
        const label = choice === null ? 'off' : `${choice}+`;
        return (
          <label key={label} className={`age-check-option${value === choice ? ' chosen' : ''}`}>
            <input
              type="radio"
              name="age-check"
              value={label}
              checked={value === choice}
              onChange={() => onChange(choice)}
            />
            {label}
          </label>
        );
      })}
    </fieldset>
  );
}
