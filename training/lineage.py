"""The shipped model's lineage: one training config per stage, each starting from the previous stage's output.

`training/configs/shipped/NN-<name>.toml` are the stages in order. Each is an ordinary training config
(`python -m training train --config <file>` trains that stage) plus a `[lineage]` table that training
skips (`config.RECORD_SECTIONS`):

    [lineage]
    weights_sha256 = "<64 hex>"   # or "unknown": weights_sha256() of the checkpoint this stage produced
    recorded_config = "<commit>:<path>"  # optional: the resolved config its run wrote, as a git object
    evidence = "..."              # where the digest was measured, or why it is unknown
    ran_with = { "models/age-resnet50.safetensors" = "runs/<earlier stage>/best.safetensors" }  # optional

Stage 1's `model.init` is `random`; every later stage's is the previous stage's output
(`<run.out_dir>/best.safetensors`), and every `optim.distill_from` entry is an earlier stage's output or a
teacher's (`training/configs/teachers/*.toml`, which carry the same table). `ran_with` names the other
paths a run read an earlier output under (stage 4 read stage 3's weights as
`models/age-resnet50.safetensors`, which held them then), so its recorded config still compares.

`walk()` checks all of that without training anything (a dry run); `recipe_differences()` compares a
stage's resolved config with the one its run recorded (the last stage's: `models/age-resnet50.train.toml`).
A new stage joins by adding one file.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ANY, REMOVED_KEYS, TrainConfig, load_config

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "training" / "configs" / "shipped"
TEACHERS = REPO / "training" / "configs" / "teachers"
MEMBERS = REPO / "training" / "configs" / "members"
SHIPPED_ENSEMBLE = REPO / "models" / "age-ensemble.json"
SHIPPED_CONFIG = REPO / "models" / "age-resnet50.train.toml"
SHIPPED_CHECKPOINT = REPO / "models" / "age-resnet50.safetensors"
UNKNOWN = "unknown"
STAGE_NAME = re.compile(r"^(\d{2})-[\w.-]+\.toml$")
NOT_FILES = ("random", "imagenet", "imagenet-offline")
LINEAGE_KEYS = {"weights_sha256", "recorded_config", "evidence", "ran_with"}

# Keys a recorded config may lack because the config dataclasses gained them after that run, each with the
# value that does what the code did before the key existed (ANY: the run never read it) and why. Loading
# the record would fill them with today's defaults, which is wrong where a default changed behaviour:
# run.precision = auto picks bf16 on CPUs with native bf16, but every run before the key was fp32.
ADDED_AFTER_RUN: dict[str, tuple[Any, str]] = {
    "model.arch": ("resnet50", "the only backbone before model.arch existed"),
    "optim.anneal_by_time": (False, "a cosine over the epochs was the only schedule before"),
    "optim.distill_from": ([], "no distillation before it existed"),
    "optim.distill_weight": (ANY, "read only with optim.distill_from"),
    "optim.distill_views": ("stored", "teachers saw the stored crops only, before views were a choice"),
    "optim.mixup_alpha": (0.0, "no mixup before it existed"),
    "run.precision": ("fp32", "fp32 was the only precision before bf16 autocast existed"),
    "data.train_splits": (["train"], "the training split alone was trained on before the key existed"),
}
# Keys a recorded config holds that the dataclasses no longer have, each with the value today's code always
# does (ANY: the run never read it) and why the key went: config.REMOVED_KEYS, which also refuses them in a
# config file. A record that held another value did something today's code cannot.
REMOVED_SINCE_RUN: dict[str, tuple[Any, str]] = REMOVED_KEYS
# How a run was watched, not what it trained: a progress bar and MLflow logging leave the weights alone.
NOT_RECIPE = ("run.progress", "run.mlflow")


class LineageError(ValueError):
    """The lineage folder does not chain: a stage starts from something no earlier stage produced."""


@dataclass
class Stage:
    path: Path
    config: TrainConfig
    weights_sha256: str
    evidence: str = ""
    recorded_config: str = ""
    ran_with: dict[str, str] = field(default_factory=dict)

    @property
    def output(self) -> str:
        """The checkpoint the run leaves behind (the trainer's best epoch)."""
        return f"{self.config.run.out_dir.rstrip('/')}/best.safetensors"


@dataclass
class Lineage:
    stages: list[Stage]
    teachers: dict[str, Stage]  # by output
    members: dict[str, Stage] = field(default_factory=dict)  # the ensemble's other networks, by output

    @property
    def final(self) -> TrainConfig:
        return self.stages[-1].config


def weights_sha256(path: str | Path) -> str:
    """sha256 of a checkpoint's tensors (name, dtype, shape, bytes; sorted by name), not of the file.

    `calibrate` and `evaluate --record` rewrite a checkpoint's metadata and copy the weights bit for bit,
    so the file's sha256 changes while the weights, which the next stage reads, do not.
    """
    import numpy as np
    from safetensors import safe_open

    digest = hashlib.sha256()
    with safe_open(str(path), framework="numpy") as handle:
        for name in sorted(handle.keys()):
            tensor = np.ascontiguousarray(handle.get_tensor(name))
            digest.update(f"{name}|{tensor.dtype.str}|{list(tensor.shape)}\n".encode())
            digest.update(tensor.tobytes())
    return digest.hexdigest()


def read_stage(path: Path) -> Stage:
    """A config through the normal loader, plus its [lineage] record."""
    with open(path, "rb") as handle:
        record = tomllib.load(handle).get("lineage")
    if not isinstance(record, dict):
        raise LineageError(f"{path} has no [lineage] table (weights_sha256, evidence)")
    if set(record) - LINEAGE_KEYS:
        raise LineageError(f"{path}: unknown lineage keys {sorted(set(record) - LINEAGE_KEYS)}")
    digest = str(record.get("weights_sha256", ""))
    if digest != UNKNOWN and not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise LineageError(f"{path}: lineage.weights_sha256 is 64 hex digits or {UNKNOWN!r}, not {digest!r}")
    return Stage(
        path,
        load_config(path),
        digest,
        str(record.get("evidence", "")),
        str(record.get("recorded_config", "")),
        dict(record.get("ran_with", {})),
    )


def _stage_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.toml"))
    numbers = []
    for path in files:
        match = STAGE_NAME.match(path.name)
        if not match:
            raise LineageError(f"{path}: a stage file is named NN-<name>.toml")
        numbers.append(int(match.group(1)))
    if numbers != list(range(1, len(files) + 1)):
        raise LineageError(f"{folder}: stages are numbered 01, 02, ... without gaps; found {numbers}")
    return files


def _check_links(stage: Stage, stages: list[Stage], teachers: dict[str, Stage]) -> None:
    """The stage starts from the previous stage's output and reads nothing the lineage did not produce."""
    known = {s.output for s in stages} | set(teachers)
    expected = stages[-1].output if stages else "random"
    if stage.config.model.init != expected:
        raise LineageError(
            f"{stage.path}: model.init is {stage.config.model.init!r}; it must be {expected!r}"
        )
    for teacher in stage.config.optim.distill_from:
        if teacher not in known:
            raise LineageError(
                f"{stage.path}: distill_from {teacher!r} is no earlier stage's or teacher's output"
            )
    for used, meant in stage.ran_with.items():
        if meant not in known:
            raise LineageError(
                f"{stage.path}: ran_with maps {used!r} to {meant!r}, which nothing here produced"
            )
    if stage.output in known:
        raise LineageError(f"{stage.path}: run.out_dir {stage.config.run.out_dir!r} is already another's")


def walk(folder: Path = SHIPPED, teachers: Path = TEACHERS, then: tuple[Path, ...] = ()) -> Lineage:
    """Load every stage in order (and `then`, candidate stages after them) and check that they chain."""
    teacher_stages = _single_stages(teachers, "a teacher")
    stages: list[Stage] = []
    for path in [*_stage_files(folder), *then]:
        stage = read_stage(path)
        _check_links(stage, stages, teacher_stages)
        stages.append(stage)
    if not stages:
        raise LineageError(f"{folder} holds no stage")
    if stages[-1].weights_sha256 == UNKNOWN and not then:
        raise LineageError(f"{stages[-1].path}: the shipped stage's weights_sha256 must be known")
    return Lineage(stages, teacher_stages, _single_stages(MEMBERS, "an ensemble member"))


def _single_stages(folder: Path, role: str) -> dict[str, Stage]:
    """Networks trained apart from the ResNet-50's stages (teachers, ensemble members), by output. Each starts
    from `random` or ImageNet, or from another one's output in the same folder (a member's second stage)."""
    found = {}
    for path in sorted(folder.glob("*.toml")):
        stage = read_stage(path)
        found[stage.output] = stage
    depth = {}
    for output, stage in found.items():
        init, steps = stage.config.model.init, 0
        while init not in NOT_FILES:
            if init not in found or steps == len(found):
                raise LineageError(
                    f"{stage.path}: {role} starts from {' | '.join(NOT_FILES)} or another's output, "
                    f"not {init!r}"
                )
            init, steps = found[init].config.model.init, steps + 1
        depth[output] = steps
    # in the order they train: a member after the one it starts from
    return {output: found[output] for output in sorted(found, key=lambda o: (depth[o], o))}


def ensemble_members_differ(lineage: Lineage, ensemble: Path = SHIPPED_ENSEMBLE) -> list[str]:
    """Each member of the shipped ensemble holds the last stage's or a member config's weights."""
    from inference_service.vision.ensemble import model_files

    if not ensemble.is_file():
        return []
    known = {lineage.stages[-1].weights_sha256, *(m.weights_sha256 for m in lineage.members.values())}
    problems = []
    for file in model_files(ensemble):
        digest = weights_sha256(file)
        if digest not in known:
            problems.append(f"{file}: weights sha256 {digest} are no stage's or member config's output")
    return problems


def read_record(spec: str | Path) -> dict[str, Any]:
    """A recorded resolved config: a file, or `<commit>:<path>` read from git history."""
    text = str(spec)
    if ":" in text and not Path(text).exists():
        text = subprocess.run(
            ["git", "show", text], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
        return tomllib.loads(text)
    with open(text, "rb") as handle:
        return tomllib.load(handle)


def _flat(config: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{section}.{key}": value for section, values in config.items() for key, value in values.items()}


def _difference(key: str, resolved: dict[str, Any], record: dict[str, Any]) -> str | None:
    if key in NOT_RECIPE:
        return None
    if key not in record:
        if key not in ADDED_AFTER_RUN:
            return f"{key}: not recorded; if the run predates the key, add it to ADDED_AFTER_RUN"
        before = ADDED_AFTER_RUN[key][0]
        if before is not ANY and resolved[key] != before:
            return f"{key} = {resolved[key]!r}; the run predates the key and did {before!r}"
        return None
    if key not in resolved:
        return _removed_difference(key, record[key])
    if resolved[key] != record[key]:
        return f"{key}: stage {resolved[key]!r}, recorded {record[key]!r}"
    return None


def _removed_difference(key: str, recorded: Any) -> str | None:
    if key not in REMOVED_SINCE_RUN:
        return f"{key}: recorded, no longer a key; see REMOVED_SINCE_RUN"
    now = REMOVED_SINCE_RUN[key][0]
    if now is not ANY and recorded != now:
        return f"{key}: recorded {recorded!r}, removed since; today's code always does {now!r}"
    return None


def recipe_differences(stage: Stage, recorded: str | Path = SHIPPED_CONFIG) -> list[str]:
    """What differs between a stage's resolved config and the one its run recorded; [] when they agree."""
    record = _flat(read_record(recorded))
    # Paths the run read an earlier output under (ran_with) become the names the lineage gives it.
    if "model.init" in record:
        record["model.init"] = stage.ran_with.get(record["model.init"], record["model.init"])
    if "optim.distill_from" in record:
        record["optim.distill_from"] = [stage.ran_with.get(p, p) for p in record["optim.distill_from"]]
    resolved = _flat(stage.config.to_dict())
    found = (_difference(key, resolved, record) for key in sorted(set(resolved) | set(record)))
    return [f"{stage.path.name}: {problem}" for problem in found if problem]


def shipped_weights_differ(lineage: Lineage, checkpoint: Path = SHIPPED_CHECKPOINT) -> str | None:
    """None when the last stage's recorded weights are the checkpoint's; else what differs."""
    actual, recorded = weights_sha256(checkpoint), lineage.stages[-1].weights_sha256
    if actual == recorded:
        return None
    return f"{checkpoint} holds weights sha256 {actual}; {lineage.stages[-1].path.name} records {recorded}"


def dry_run(
    folder: Path = SHIPPED,
    then: tuple[Path, ...] = (),
    recorded: Path | None = SHIPPED_CONFIG,
    checkpoint: Path | None = SHIPPED_CHECKPOINT,
) -> tuple[Lineage, list[str]]:
    """Walk the lineage; then what differs from the recorded config and the checkpoint ([] = none)."""
    lineage = walk(folder, then=then)
    problems = recipe_differences(lineage.stages[-1], recorded) if recorded else []
    mismatch = shipped_weights_differ(lineage, checkpoint) if checkpoint else None
    members = ensemble_members_differ(lineage) if checkpoint else []
    return lineage, [*problems, *([mismatch] if mismatch else []), *members]


def describe(lineage: Lineage) -> list[str]:
    """One line per stage: file, what it starts from, what it produces and that output's digest."""
    lines = []
    for number, stage in enumerate(lineage.stages, 1):
        config = stage.config
        extra = f", distill_from {config.optim.distill_from}" if config.optim.distill_from else ""
        lines.append(
            f"{number:2d} {stage.path.name}: {config.model.input_size} px, init {config.model.init}{extra}"
            f" -> {stage.output} (weights sha256 {stage.weights_sha256})"
        )
    for role, single in (("teacher", lineage.teachers), ("member", lineage.members)):
        for output, stage in single.items():
            lines.append(
                f"{role} {stage.path.name}: init {stage.config.model.init} -> {output}"
                f" (weights sha256 {stage.weights_sha256})"
            )
    return lines
