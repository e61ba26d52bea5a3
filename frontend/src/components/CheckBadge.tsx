/** One face's age-check verdict, in words and colour. */
import type { AgeCheck, Face } from '../api/types';
import { checkText } from '../lib/format';

/** `compact`: the short words that fit on a crowded photo; the face list carries the full sentence. */
export function CheckBadge({ face, threshold, compact = false }: { face: Face; threshold: number | null; compact?: boolean }) {
  const check = threshold === null ? undefined : face.age_checks?.find((c) => c.threshold === threshold);
  if (!check) return null;
  return <VerdictBadge check={check} compact={compact} />;
}

/** A verdict already computed (e.g. from a live track's accumulated distribution). */
export function VerdictBadge({ check, compact = false }: { check: AgeCheck; compact?: boolean }) {
  return (
    <span className={`check-badge verdict-${check.verdict}`} data-testid="check-badge" data-verdict={check.verdict}>
      {checkText(check, compact)}
    </span>
  );
}
