"""Train the ResNet-50 age model from a prepared set; the best epoch becomes the checkpoint.

Runs on one CPU, one GPU, or several processes under `torchrun` (DDP: NCCL on
CUDA, gloo on CPU). Only rank 0 evaluates, logs and writes files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel

from inference_service.vision.age_model import ModelConfig, build_model, normalise
from inference_service.vision.align import UTKFACE_TEMPLATE
from inference_service.vision.checkpoint import CheckpointMetadata, save_checkpoint
from inference_service.vision.predictor import AgeEstimator, resolve_device

from .config import TrainConfig
from .data import FaceSet, augment, capped_indices, lds_weights, load_split
from .losses import age_loss

log = logging.getLogger("training")


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device_name: str) -> tuple[Dist, torch.device]:
    if "RANK" not in os.environ:
        return Dist(), resolve_device(device_name)
    info = Dist(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    use_cuda = torch.cuda.is_available() and device_name != "cpu"
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return info, torch.device(f"cuda:{info.local_rank}") if use_cuda else torch.device("cpu")


def code_version() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _initial_weights(model: nn.Module, init: str) -> bool:
    """Load `init` into `model`; True when the age head came with it."""
    if init == "random":
        return False
    if init == "imagenet":
        from torchvision.models import ResNet50_Weights

        state = ResNet50_Weights.IMAGENET1K_V2.get_state_dict(progress=False)  # downloads: needs internet
    elif init.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(init)
    else:
        state = torch.load(init, map_location="cpu", weights_only=True)
    # The head is kept when it fits (continuing an earlier run of the same head), else rebuilt.
    own = model.state_dict()
    state = {
        k: v for k, v in state.items() if not k.startswith("fc.") or (k in own and own[k].shape == v.shape)
    }
    missing, _ = model.load_state_dict(state, strict=False)
    if any(not k.startswith("fc.") for k in missing):
        raise ValueError(f"init weights {init} lack backbone tensors, e.g. {missing[:3]}")
    return not missing


class WarmupEma:
    """EMA update for `AveragedModel` whose decay ramps up as (1 + n) / (10 + n) to `decay`.

    Without the ramp a short run's average would still be mostly the random
    initial weights. Counts updates itself (no GPU sync for the step number).
    """

    def __init__(self, decay: float, updates: int = 0):
        self.decay, self.updates = decay, updates

    @torch.no_grad()
    def __call__(self, averaged: list[torch.Tensor], current: list[torch.Tensor], _: torch.Tensor) -> None:
        if averaged and averaged[0].is_floating_point():  # called once per dtype group: count here only
            decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
            self.updates += 1
            torch._foreach_lerp_(averaged, current, 1.0 - decay)
        else:  # integer buffers (BatchNorm's batch counter): take the current value
            for avg, cur in zip(averaged, current):
                avg.copy_(cur)


def validation_mae(
    model: nn.Module, mcfg: ModelConfig, faces: FaceSet, device: torch.device, flip: bool
) -> float:
    """MAE through the service's own `AgeEstimator` (fp32 torch engine, so the weights stay as trained)."""
    estimator = AgeEstimator(
        (model, CheckpointMetadata(model=mcfg)),
        device=str(device),
        flip=flip,
        batch_size=256,
        runtime="torch",
    )
    pred = estimator.predict_crops(faces.images).age
    return float((pred - faces.ages.cpu()).abs().mean())


def cpu_has_bf16() -> bool:
    """Native bf16 matrix units: there bf16 autocast roughly doubles ResNet-50 training speed."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))


def use_bf16(precision: str, device: torch.device) -> bool:
    """Resolve `run.precision` for a device; fp32 where bf16 would be emulated (slower, no gain)."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"run.precision must be auto, bf16 or fp32, not {precision!r}")
    if precision == "auto":
        return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())
    return precision == "bf16"


def _schedule(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    total_steps: int,
    time_progress: Callable[[], float] = lambda: 0.0,
):
    """Linear warm-up, then cosine to zero by the last step or, when `time_progress` runs, by the budget."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = max((step - warmup_steps) / max(1, total_steps - warmup_steps), time_progress())
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train(config: TrainConfig, resume: bool = False) -> dict:
    """Run one experiment; returns the final metrics (also in `<out_dir>/metrics.json`)."""
    info, device = _setup_distributed(config.run.device)
    if config.run.num_threads:
        torch.set_num_threads(config.run.num_threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels
    torch.manual_seed(config.run.seed + info.rank)
    out = Path(config.run.out_dir)
    if info.main:
        out.mkdir(parents=True, exist_ok=True)
        config.dump(out / "config.toml")
        handlers = _log_to(out / "train.log")
    mcfg = ModelConfig(
        head=config.model.head,
        input_size=config.model.input_size,
        template=UTKFACE_TEMPLATE,
        age_min=config.model.age_min,
        age_max=config.model.age_max,
    )

    train_set = load_split(config.data.prepared, "train", mcfg.input_size, config.data.limit)
    val_set = load_split(
        config.data.prepared,
        "val",
        mcfg.input_size,
        max(64, config.data.limit // 4) if config.data.limit else 0,
    )
    train_set = train_set.to(device)
    bf16 = use_bf16(config.run.precision, device)
    if info.main:
        log.info(
            "device %s, world %d, train %d, val %d, input %d px, %s",
            device,
            info.world,
            len(train_set),
            len(val_set),
            mcfg.input_size,
            "bf16 autocast" if bf16 else "fp32",
        )

    model = build_model(mcfg)
    head_loaded = _initial_weights(model, config.model.init)
    if mcfg.head != "bins" and not head_loaded:  # start regression at the mean age: steadier first epochs
        nn.init.constant_(model.fc[-1].bias, float(train_set.ages.mean()))
    model = model.to(device, memory_format=torch.channels_last)
    ema_update = WarmupEma(config.optim.ema_decay)
    ema = (
        AveragedModel(model, multi_avg_fn=ema_update, use_buffers=True)
        if config.optim.ema_decay > 0
        else None
    )
    net = nn.parallel.DistributedDataParallel(model) if info.world > 1 else model

    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.optim.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.optim.lr,
    )
    per_rank_batch = max(1, config.optim.batch_size // info.world)
    if config.data.balance not in ("none", "cap", "lds"):
        raise ValueError(f"data.balance must be none, cap or lds, not {config.data.balance!r}")
    counts = torch.bincount(train_set.ages.round().long().cpu())
    epoch_size = (
        int(counts.clamp(max=config.data.age_cap).sum()) if config.data.balance == "cap" else len(train_set)
    )
    steps_per_epoch = max(1, epoch_size // config.optim.batch_size)
    started = time.time()
    budget_s = 60 * config.run.max_minutes if config.optim.anneal_by_time else 0.0
    scheduler = _schedule(
        optimizer,
        int(config.optim.warmup_epochs * steps_per_epoch),
        config.optim.epochs * steps_per_epoch,
        (lambda: (time.time() - started) / budget_s) if budget_s else (lambda: 0.0),
    )
    weights = (
        lds_weights(train_set.ages, config.data.lds_sigma, mcfg.age_max)
        if config.data.balance == "lds"
        else None
    )

    history: list[dict] = []
    best = {"val_mae": float("inf"), "epoch": -1}
    start_epoch = 0
    state_path = out / "last_state.pt"
    if resume and state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
            ema_update.updates = int(ema.n_averaged)
        start_epoch, best = state["epoch"] + 1, state["best"]
        started -= state.get("elapsed_s", 0.0)  # the time budget (and a time-based schedule) goes on
        history = json.loads((out / "history.json").read_text()) if (out / "history.json").exists() else []
        if info.main:
            log.info("resumed after epoch %d (best val MAE %.3f)", state["epoch"] + 1, best["val_mae"])

    tracker = _mlflow(config) if info.main and config.run.mlflow else None
    generator = torch.Generator().manual_seed(config.run.seed)
    for epoch in range(start_epoch, config.optim.epochs):
        generator.manual_seed(config.run.seed * 1000 + epoch)  # same order on every rank
        order = (
            capped_indices(train_set.ages, config.data.age_cap, generator)
            if config.data.balance == "cap"
            else torch.arange(len(train_set))
        )
        order = order[torch.randperm(len(order), generator=generator)]
        order = order[: steps_per_epoch * per_rank_batch * info.world]  # equal step counts on every rank
        order = order[info.rank :: info.world]
        net.train()
        total, seen, t0 = 0.0, 0, time.time()
        batches = range(0, len(order) - per_rank_batch + 1, per_rank_batch)
        if info.main and config.run.progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"epoch {epoch + 1}/{config.optim.epochs}", leave=False)
        for start in batches:
            if budget_s and info.world == 1 and time.time() - started >= budget_s:
                break  # the learning rate has reached zero: validate and stop now
            idx = order[start : start + per_rank_batch].to(device)
            images = augment(train_set.images[idx].float().div_(255), config.augment)
            inputs = normalise(images, mcfg).contiguous(memory_format=torch.channels_last)
            targets = train_set.ages[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = net(inputs)
            loss = age_loss(
                logits.float(), targets, mcfg, config.optim, None if weights is None else weights[idx]
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.optim.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            total += float(loss.detach()) * len(idx)
            seen += len(idx)

        train_seconds = time.time() - t0
        stop = torch.zeros(1, device=device)
        if info.main:
            scored = ema.module if ema is not None else model
            val_mae = validation_mae(scored, mcfg, val_set, device, config.run.eval_flip)
            row = {
                "epoch": epoch + 1,
                "train_loss": total / max(1, seen),
                "val_mae": val_mae,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": round(time.time() - t0, 1),
                "train_img_per_s": round(seen * info.world / max(train_seconds, 1e-9), 1),
            }
            history.append(row)
            log.info(
                "epoch %d/%d  loss %.4f  val MAE %.3f  lr %.2e  %.0fs  %.0f img/s",
                epoch + 1,
                config.optim.epochs,
                row["train_loss"],
                val_mae,
                row["lr"],
                row["seconds"],
                row["train_img_per_s"],
            )
            if tracker:
                tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch + 1)
            if val_mae < best["val_mae"]:
                best = {"val_mae": val_mae, "epoch": epoch + 1}
                _export(out / "best.safetensors", scored, mcfg, config, best, history, train_set, val_set)
            (out / "history.json").write_text(json.dumps(history, indent=1))
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "best": best,
                "elapsed_s": time.time() - started,
            }
            if ema is not None:
                state["ema"] = ema.state_dict()
            torch.save(state, state_path)
            out_of_patience = config.run.patience and epoch + 1 - best["epoch"] >= config.run.patience
            out_of_time = config.run.max_minutes and (time.time() - started) / 60 >= config.run.max_minutes
            if out_of_patience or out_of_time:
                log.info(
                    "stopping after epoch %d (%s)",
                    epoch + 1,
                    "patience" if out_of_patience else "time budget",
                )
                stop += 1
        if info.world > 1:
            dist.broadcast(stop, src=0)
        if stop.item():
            break

    metrics: dict = {}
    if info.main:
        metrics = {
            "best_val_mae": best["val_mae"],
            "best_epoch": best["epoch"],
            "epochs_run": len(history),
            "train_minutes": round((time.time() - started) / 60, 1),
            "device": str(device),
            "world_size": info.world,
            "history": history,
        }
        from .report import plot_history, sample_grid

        plot_history(history, out / "curves.png")
        if (out / "best.safetensors").exists():
            sample_grid(out / "best.safetensors", val_set, out / "samples.png")
            if mcfg.head == "bins":  # the distribution's temperature, fitted on the validation split
                from .calibrate import calibrate

                metrics["calibration"] = calibrate(
                    out / "best.safetensors",
                    config.data.prepared,
                    plot=out / "calibration.png",
                    device=str(device),
                )
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        if tracker:
            tracker.log_artifacts(str(out))
            tracker.end_run()
    if info.main:
        for handler in handlers:
            log.removeHandler(handler)
            handler.close()
    if info.world > 1:
        print(f"rank {info.rank}/{info.world} done", flush=True)
        dist.barrier()
        dist.destroy_process_group()
    return metrics


def _log_to(path: Path) -> list[logging.Handler]:
    """Per-epoch log lines to the console and the run folder (removed again when the run ends)."""
    log.setLevel(logging.INFO)
    log.propagate = False
    handlers: list[logging.Handler] = [logging.StreamHandler(), logging.FileHandler(path)]
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    return handlers


def _export(
    path: Path,
    model: nn.Module,
    mcfg: ModelConfig,
    config: TrainConfig,
    best: dict,
    history: list[dict],
    train_set: FaceSet,
    val_set: FaceSet,
) -> None:
    ages = train_set.ages.cpu()
    metadata = CheckpointMetadata(
        model=mcfg,
        name=config.run.name,
        version=config.run.version,
        metrics={"val_mae": round(best["val_mae"], 3), "epoch": best["epoch"]},
        data={
            "prepared": config.data.prepared,
            "train_size": len(train_set),
            "val_size": len(val_set),
            "train_age_mean": round(float(ages.mean()), 2),
            "train_age_range": [float(ages.min()), float(ages.max())],
        },
        training_config=config.to_dict(),
        code_version=code_version(),
    )
    save_checkpoint(path, model, metadata)


def _mlflow(config: TrainConfig):
    try:
        import mlflow
    except ImportError:
        log.info("run.mlflow is on but MLflow is not installed: skipping MLflow logging")
        return None
    mlflow.start_run(run_name=Path(config.run.out_dir).name)
    flat = {f"{s}.{k}": v for s, sec in config.to_dict().items() for k, v in sec.items()}
    mlflow.log_params(flat)
    return mlflow
