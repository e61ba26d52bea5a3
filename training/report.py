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
    from .train import load_and_predict

    subset = FaceSet(faces.images[:count], faces.ages[:count], faces.files[:count])
    pred, _ = load_and_predict(checkpoint, subset, device="cpu")
    side = int(count**0.5)
    fig, axes = plt.subplots(side, side, figsize=(2 * side, 2.2 * side))
    for ax, image, age, guess in zip(axes.flat, subset.images, subset.ages, pred):
        ax.imshow(image.permute(1, 2, 0).cpu().numpy())
        ax.set_title(f"true {age:.0f} / pred {guess:.1f}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
