"""`python -m inference_service.annotate INPUT... --out OUT`: every face of every photo into Parquet.

The photos go through the service's own settings, pipeline factory, decode limits and serializer on
Ray Data (the `bulk` extra): in-process by default, or on a cluster with `--address`. See
docs/bulk-annotation.md for the output schema, resuming and errors.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .settings import Settings, SettingsError
from .vision.age_checks import AgeCheckError, parse_thresholds
from .vision.checkpoint import CheckpointError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m inference_service.annotate",
        description="Annotate a photo collection into Parquet: one row per face, with the service's answers.",
    )
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="folder (recursive), glob, list file (.txt), file or URI"
    )
    parser.add_argument("--out", required=True, help="folder (or URI) for the Parquet files")
    parser.add_argument("--thresholds", help="age checks, e.g. 13,18 (default: the config's age_thresholds)")
    parser.add_argument("--address", help="an existing Ray cluster: auto, HOST:PORT or ray://HOST:PORT")
    parser.add_argument("--actors", type=int, help="model-holding actors (default: bulk.actors)")
    parser.add_argument("--config", help="the service.cfg to use (default: $AGE_CONFIG, else ./service.cfg)")
    parser.add_argument("--resume", action="store_true", help="skip sources OUT already has rows for")
    parser.add_argument(
        "--per-frame",
        action="store_true",
        help="videos: a row per face per sampled frame too (beside each track's)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("inference_service.bulk").setLevel(logging.INFO)  # each part as it is written
    try:
        from .bulk.run import BulkError, annotate
    except ImportError as exc:
        print(f"annotate needs the bulk extra (pip install -e '.[bulk]'): {exc}", file=sys.stderr)
        return 1
    try:
        thresholds = parse_thresholds(args.thresholds) if args.thresholds is not None else None
        if args.actors is not None and args.actors < 1:
            raise BulkError("--actors must be at least 1")
        summary = annotate(
            Settings.load(args.config),
            args.inputs,
            args.out,
            thresholds=thresholds,
            address=args.address,
            actors=args.actors,
            resume=args.resume,
            progress=not args.no_progress,
            per_frame=args.per_frame,
        )
    except (BulkError, SettingsError, AgeCheckError, CheckpointError, FileNotFoundError) as exc:
        print(f"annotate: {exc}", file=sys.stderr)
        return 1
    print(
        f"annotated {summary.annotated} of {summary.listed} sources into {args.out} "
        f"({summary.skipped} already there) in {summary.seconds:.1f} s, {summary.parts} new parts; "
        f"{summary.on_disk} sources on disk"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
