/** Small formatting helpers shared by the result view and the status line. */
import type { AgeCheck } from '../api/types';

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '–';
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(bytes < 10_000 ? 1 : 0)} KB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** The age shown on a label: whole years, as the API's age rounded. */
export function roundAge(age: number): number {
  return Math.round(age);
}

/** "29–39" with an en dash. */
export function formatInterval(interval: readonly [number, number] | null | undefined): string | null {
  if (!interval) return null;
  return `${roundAge(interval[0])}–${roundAge(interval[1])}`;
}

/** The words of an age-check badge: never colour alone. `compact` is the short form on the photo. */
export function checkText(check: AgeCheck, compact = false): string {
  if (check.verdict === 'over') {
    return compact ? `over ${check.threshold}` : `over ${check.threshold} · ${Math.round(check.p_over * 100)} %`;
  }
  if (check.verdict === 'under') return `under ${check.threshold}`;
  return compact ? 'ask for ID' : 'not sure — ask for ID';
}
