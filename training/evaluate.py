"""Accuracy of a checkpoint: on raw labelled photos (detect + align, as served) or on a prepared split.

Raw photos go through the service's own detector and the checkpoint's own
template and input size, so the figure is what a user of the service would see.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from inference_service.settings import Settings
from inference_service.vision.age_checks import check_thresholds, probability_over
from inference_service.vision.checkpoint import CheckpointError, read_metadata, rewrite_metadata
from inference_service.vision.decode import ImageError, read_image_file
from inference_service.vision.ensemble import EnsembleSpec, is_ensemble, read_model_metadata
from inference_service.vision.estimator import Estimator
from inference_service.vision.model_config import AgeOutput, ModelConfig
from inference_service.vision.options import AgeModelOptions
from inference_service.vision.pipeline import build_detector, build_estimator

from .groups import group_report
from .metrics import age_check_report, paired_bootstrap, summarise
from .prepare import pick_face
from .sources import GroupLabels, Sample, group_labels

CHECK_CONFIDENCE: float = Settings.model_fields["check_confidence"].default  # the service's verdicts


def read_name_list(path: str | Path) -> list[str]:
    """File names, one a line; blank lines and `#` comments ignored (names may hold spaces)."""
    names = []
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            names.append(line.rstrip("\r"))
    if not names:
        raise ValueError(f"{path} lists no file names")
    return names


def select(samples: Iterable[Sample], names: list[str] | None) -> list[Sample]:
    """Keep the samples whose file names are listed (all when `names` is None); all must be found."""
    samples = list(samples)
    if names is None:
        return samples
    by_name = {s.path.name: s for s in samples}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise FileNotFoundError(f"{len(missing)} listed files are not in the input, e.g. {missing[:3]}")
    return [by_name[n] for n in names]


def evaluate_photos(
    checkpoint: str | Path,
    samples: list[Sample],
    device: str = "auto",
    flip: bool = True,
    score_threshold: float = 0.5,
    checks: list[int] | None = None,
) -> dict:
    """Detect, align (the checkpoint's template and size) and age the labelled face of every photo."""
    settings = Settings.load(
        age_model={"path": checkpoint, "flip": flip, "batch_size": 64},
        detector={"score_threshold": score_threshold},
    )
    estimator = build_estimator(settings.age_model, device)
    detector = build_detector(settings.detector)
    crops, ages, groups, no_face = [], [], [], []
    for sample in samples:
        try:
            image = read_image_file(str(sample.path))
        except (ImageError, OSError):
            no_face.append(sample.path.name)
            continue
        face = pick_face(detector.detect(image), image.shape[1], image.shape[0])
        if face is None:
            no_face.append(sample.path.name)
            continue
        crops.append(estimator.align(image, face.landmarks))
        ages.append(sample.age)
        groups.append(group_labels(sample.source, sample.path.name))
    if not crops:
        raise ValueError(f"no face found in any of the {len(samples)} images")
    out = estimator.predict_crops(np.stack(crops))
    result = score(out, torch.tensor(ages), estimator.model_config, checks, groups)
    result.update(
        _describe(checkpoint, estimator),
        images=len(samples),
        no_face=len(no_face),
        no_face_files=no_face[:20],
    )
    return result


def evaluate_prepared(
    checkpoint: str | Path,
    prepared: str | Path,
    split: str = "test",
    names: list[str] | None = None,
    device: str = "auto",
    flip: bool = True,
    checks: list[int] | None = None,
    engine: str = "torch",
) -> dict:
    """Metrics on already-aligned crops of a prepared set (resized to the checkpoint's input size), through
    one engine: by default the fp32 reference, so the recorded figures do not depend on the host's CPU."""
    from .data import load_split

    options = AgeModelOptions(path=Path(checkpoint), engine=engine, flip=flip, batch_size=64)
    estimator = build_estimator(options, device)
    size = estimator.model_config.input_size
    faces = load_split(str(prepared), None if split == "all" else split, size, originals=names)
    out = estimator.predict_crops(faces.images)
    result = score(out, faces.ages, estimator.model_config, checks, faces.groups)
    result.update(
        _describe(checkpoint, estimator), prepared=str(prepared), split=split, engine=estimator.engine
    )
    return result


def compare(new: str | Path, against: str | Path, prepared: str | Path, split: str = "test") -> dict:
    """A paired bootstrap of two models (checkpoints or ensemble files) on the same faces of a prepared
    split, both through the fp32 reference engine with flip: the rule for replacing the shipped model."""
    from .data import load_split

    errors = []
    for path in (new, against):
        estimator = build_estimator(AgeModelOptions(path=Path(path), engine="torch", batch_size=64), "cpu")
        faces = load_split(str(prepared), split, estimator.model_config.input_size)
        errors.append(np.abs(estimator.predict_crops(faces.images).age - faces.ages.numpy()))
    return {"new": str(new), "against": str(against), "split": split, **paired_bootstrap(*errors)}


def score(
    out: AgeOutput,
    ages: torch.Tensor,
    cfg: ModelConfig,
    checks: list[int] | None,
    groups: list[GroupLabels | None],
) -> dict:
    """MAE, CS@5, age groups, interval coverage, and with `checks` the age-check error rates; for faces
    whose source records group labels (`groups`, None where it records none) also the same by label."""
    result = summarise(out.age, ages, out.interval)
    p_over = None
    if checks:
        check_thresholds(checks, cfg)
        p_over = probability_over(out.probabilities, checks, cfg)
        result["age_checks"] = age_check_report(p_over, out.age, ages, checks, CHECK_CONFIDENCE)
    result["labelled_faces"] = sum(g is not None for g in groups)
    if result["labelled_faces"]:
        result["by_label"] = group_report(out.age, ages, groups, p_over, checks, CHECK_CONFIDENCE)
    return result


def record(checkpoint: str | Path, key: str, result: dict, command: str) -> None:
    """Store an evaluation in the model's file (a checkpoint's metadata, weights untouched, or the
    ensemble file), so `GET /model` shows it."""
    kept = {k: v for k, v in result.items() if k not in ("checkpoint", "no_face_files")}
    entry = {**kept, "measured_with": command}
    if is_ensemble(checkpoint):
        spec = EnsembleSpec.read(checkpoint)
        spec.metrics = {**spec.metrics, key: entry}
        spec.write(checkpoint)
        return
    meta = read_metadata(checkpoint)
    meta.metrics = {**meta.metrics, key: entry}
    rewrite_metadata(checkpoint, meta, checkpoint)


def _describe(checkpoint: str | Path, estimator: Estimator) -> dict:
    cfg = estimator.model_config
    return {
        "checkpoint": str(checkpoint),
        "model_version": estimator.metadata.version,
        "head": cfg.head,
        "input_size": cfg.input_size,
        "interval_mass": cfg.interval_mass,
    }


def format_report(result: dict) -> str:
    """Human-readable table of overall and per-group MAE."""
    lines = [
        f"checkpoint {result['checkpoint']} ({result['head']} head, {result['input_size']} px, "
        f"version {result['model_version']})",
        f"MAE {result['mae']:.3f} years on {result['n']} faces, CS@5 {result['cs5']:.1%}",
    ]
    if "no_face" in result:
        lines.append(f"no face found in {result['no_face']} of {result['images']} images (not scored)")
    for name, group in result["groups"].items():
        lines.append(f"  {name:>6}: MAE {group['mae']:6.3f}  (n={group['n']})")
    if "interval_coverage" in result:
        lines.append(
            f"{result['interval_mass']:.0%} interval coverage {result['interval_coverage']:.3f}, "
            f"mean width {result['interval_mean_width']:.1f} years"
        )
    if "age_checks" in result:
        lines += _format_checks(result["age_checks"])
    if "by_label" in result:
        lines += _format_groups(result["by_label"])
    elif result.get("labelled_faces") == 0:
        lines.append("by the dataset's labels: none (the faces' source records no group labels)")
    return "\n".join(lines)


def _format_groups(report: dict) -> list[str]:
    lines = [f"by the dataset's labels (cells under {report['min_cell']} faces are too small to read):"]
    if report.get("n_without_labels"):
        lines.append(f"  {report['n_without_labels']} faces come from a source without labels (left out)")
    for dimension in ("gender", "ethnicity"):
        for scope, block in report[dimension].items():
            cells = [
                f"{name} {cell['mae']:.2f} [{cell['mae_ci95'][0]:.2f}-{cell['mae_ci95'][1]:.2f}] "
                f"n={cell['n']}{' (too small)' if cell['too_small'] else ''}"
                for name, cell in block["cells"].items()
                if "mae" in cell
            ]
            spread = f"  worst/best {block['worst_to_best_mae']:.2f}" if "worst_to_best_mae" in block else ""
            standardised = block.get("age_standardised", {})
            if "worst_to_best_mae" in standardised:
                spread += f" (age-standardised {standardised['worst_to_best_mae']:.2f})"
            lines.append(f"  {dimension:>9} {scope:>12}: " + "; ".join(cells) + spread)
    return lines


def _format_checks(report: dict) -> list[str]:
    lines = [f"age checks (verdict at p >= {report['confidence']}):"]
    for t, row in report["thresholds"].items():
        lines.append(
            f"  {t:>3}+: false accept {_pct(row['false_accept_rate'])}  "
            f"false reject (T+5) {_pct(row['false_reject_rate'])}  "
            f"uncertain {_pct(row['uncertain_share'])}  ECE {row['ece']:.3f}"
        )
    c25 = report["challenge_25"]
    lines.append(f"Challenge-25: {_pct(c25['rate'])} of {c25['n']} faces aged 13-17 estimated 25 or older")
    lines.append(f"MAE averaged over ages 13-30: {report['mae_13_30_mean_of_years']}")
    return lines


def _pct(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.1%}"


def stratified_names(prepared: str | Path, count: int, split: str = "test") -> list[str]:
    """Evenly spaced rows of a split sorted by age (the fixed list `make test` scores the shipped model on,
    `models/test-300.txt`): the split's age mix in `count` source file names."""
    from .prepare import read_index

    rows = sorted(read_index(str(prepared), split), key=lambda r: (r["age"], r["original"]))
    if len(rows) < count:
        raise ValueError(f"split {split!r} has only {len(rows)} rows")
    step = len(rows) / count
    return [rows[int(i * step + step / 2)]["original"] for i in range(count)]


def compare_engines(
    model: str | Path, prepared: str | Path, split: str, limit: int, engines: list[str]
) -> dict:
    """Each engine on the same crops of a split: how far it moves ages from fp32 torch (mean, p99, largest),
    its MAE, and faces per second with the service's settings (flip, batch 32). The rules each engine is
    held to are stated once, in docs/performance.md ("Tolerances")."""
    from inference_service.vision.devices import cpu_info

    from .data import load_split

    faces = load_split(str(prepared), split, read_model_metadata(model).model.input_size, limit)
    reference, _ = _engine_ages(model, "torch", faces.images)
    rows = {}
    for engine in engines:
        try:
            ages, rate = _engine_ages(model, engine, faces.images)
        except CheckpointError as exc:  # openvino-int8 without its graph: say so and go on
            rows[engine] = {"error": str(exc)}
            continue
        moved = np.abs(ages - reference)
        rows[engine] = {
            "mae": round(float(np.abs(ages - faces.ages.numpy()).mean()), 4),
            "max_age_difference_vs_fp32": round(float(moved.max()), 3),
            "p99_age_difference_vs_fp32": round(float(np.quantile(moved, 0.99)), 3),
            "faces_over_0_3_year": int((moved > 0.3).sum()),
            "faces_per_s_with_flip": round(rate, 1),
        }
    return {
        "model": str(model),
        "split": split,
        "faces": len(faces),
        "cpu": cpu_info().describe(),
        "engines": rows,
    }


def _engine_ages(model: str | Path, engine: str, crops: torch.Tensor) -> tuple[np.ndarray, float]:
    import time

    estimator = build_estimator(AgeModelOptions(path=Path(model), engine=engine, batch_size=32), "cpu")
    estimator.predict_crops(crops[:64])  # warm-up
    started = time.perf_counter()
    ages = estimator.predict_crops(crops).age
    return ages, len(crops) / (time.perf_counter() - started)
