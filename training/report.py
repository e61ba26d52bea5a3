"""Pictures for a run folder: learning curves and a grid of sample predictions."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .data import FaceSet


def plot_history(history: list[dict], path: Path) -> None:
    if not history:
        return
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["train_loss"] for h in history], marker="o")
    left.set(title="training loss", xlabel="epoch")
    right.plot(epochs, [h["val_mae"] for h in history], marker="o", color="tab:orange")
    right.set(title="validation MAE (years)", xlabel="epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def sample_grid(checkpoint: Path, faces: FaceSet, path: Path, count: int = 16) -> None:
    from inference_service.vision.estimator import AgeEstimator

    subset = FaceSet(faces.images[:count], faces.ages[:count], faces.files[:count])
    pred = (
        AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="torch")
        .predict_crops(subset.images.cpu())
        .age
    )
    side = int(count**0.5)
    fig, axes = plt.subplots(side, side, figsize=(2 * side, 2.2 * side))
    for ax, image, age, guess in zip(axes.flat, subset.images, subset.ages, pred):
        ax.imshow(image.permute(1, 2, 0).cpu().numpy())
        ax.set_title(f"true {age:.0f} / pred {guess:.1f}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def reliability_diagram(
    logits, ages, before, after, thresholds: tuple[int, ...], path: Path, bins: int = 10
) -> None:
    """Predicted P(age >= T) against the observed share, before and after calibration, one panel per T."""
    import torch

    from inference_service.vision.age_checks import probability_over
    from inference_service.vision.model_config import decode_output

    fig, axes = plt.subplots(1, len(thresholds), figsize=(3.2 * len(thresholds), 3.4), squeeze=False)
    for cfg, label, style in ((before, "raw softmax", "o--"), (after, "calibrated", "s-")):
        p_over = torch.from_numpy(
            probability_over(decode_output(logits, cfg).probabilities, list(thresholds), cfg)
        )
        for i, t in enumerate(thresholds):
            p, hit = p_over[:, i], (ages >= t).float()
            index = (p * bins).long().clamp(max=bins - 1)
            xs = [float(p[index == b].mean()) for b in range(bins) if (index == b).any()]
            ys = [float(hit[index == b].mean()) for b in range(bins) if (index == b).any()]
            axes[0, i].plot(xs, ys, style, label=f"{label} (T={cfg.temperature:g})", markersize=4)
    for i, t in enumerate(thresholds):
        axes[0, i].plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        axes[0, i].set(title=f"age >= {t}", xlabel="predicted probability", xlim=(0, 1), ylim=(0, 1))
    axes[0, 0].set_ylabel("observed share")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
