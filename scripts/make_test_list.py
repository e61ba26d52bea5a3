"""Write the fixed, age-stratified list of test chips that `make test` scores the shipped model on.

Usage: python scripts/make_test_list.py data/prepared/utkface-160 models/test-300.txt [--count 300]
Takes evenly spaced rows of the prepared set's TEST split sorted by age, so the list
keeps the split's age mix; prints the original UTKFace file names, one a line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.prepare import read_index


def stratified_names(prepared: str, count: int, split: str = "test") -> list[str]:
    rows = sorted(read_index(prepared, split), key=lambda r: (r["age"], r["original"]))
    if len(rows) < count:
        raise SystemExit(f"split {split!r} has only {len(rows)} rows")
    step = len(rows) / count
    return [rows[int(i * step + step / 2)]["original"] for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("prepared")
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    names = stratified_names(args.prepared, args.count)
    header = f"# {args.count} age-stratified chips of the test split of {Path(args.prepared).name}\n"
    Path(args.out).write_text(header + "\n".join(names) + "\n")
    print(f"wrote {len(names)} names to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
