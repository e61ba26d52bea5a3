"""What a run or an evaluation shows people: learning curves and a grid of sample predictions for a run
folder, and the model card's Markdown tables from `evaluate --checks ... --json` (`card_tables`)."""

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


# ---- the model card's tables (docs/model-card.md, docs/age-checks.md; tests/test_docs_figures.py)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def accuracy(result: dict) -> list[str]:
    lines = [
        "| Ages | n | MAE (years) |",
        "|---|---:|---:|",
        f"| all | {result['n']:,} | **{result['mae']:.2f}** |",
    ]
    lines += [f"| {name} | {g['n']:,} | {g['mae']:.2f} |" for name, g in result["groups"].items()]
    return lines


def checks(result: dict) -> list[str]:
    report = result["age_checks"]
    lines = [
        "| Check | false accept (under T → over) | false reject (T+5 or older → under) | uncertain | ECE |",
        "|---|---:|---:|---:|---:|",
    ]
    for t, row in report["thresholds"].items():
        lines.append(
            f"| {t}+ | {pct(row['false_accept_rate'])} of {row['n_under']:,} | "
            f"{pct(row['false_reject_rate'])} of {row['n_at_least_t_plus_5']:,} | "
            f"{pct(row['uncertain_share'])} | {row['ece']:.3f} |"
        )
    return lines


def groups(result: dict) -> list[str]:
    lines = [
        "| Label | Value | MAE, all ages [95 % CI] (n) | MAE, ages 20–59 [95 % CI] (n) "
        "| 20–59, age-standardised |",
        "|---|---|---:|---:|---:|",
    ]
    report = result["by_label"]
    for dimension in ("gender", "ethnicity"):
        every, adults = report[dimension]["all"]["cells"], report[dimension]["adults_20_59"]["cells"]
        for value, cell in every.items():
            adult = adults.get(value, {})
            standardised = adult.get("mae_age_standardised")
            shown = "–" if standardised is None else f"{standardised:.2f}"
            lines.append(f"| {dimension} | {value} | {_cell(cell)} | {_cell(adult)} | {shown} |")
    return lines


def _cell(cell: dict) -> str:
    if "mae" not in cell:
        return "–"
    small = " too small to read" if cell["too_small"] else ""
    low, high = cell["mae_ci95"]
    return f"{cell['mae']:.2f} [{low:.2f}–{high:.2f}] ({cell['n']:,}){small}"


def card_tables(result: dict) -> str:
    """The model card's tables and headline line for one `evaluate --checks ... --json` result."""
    c25 = result["age_checks"]["challenge_25"]
    blocks = ["\n".join(block) + "\n" for block in (accuracy(result), checks(result), groups(result))]
    blocks.append(
        f"CS@5 {result['cs5']:.1%}; 80 % interval coverage {result['interval_coverage']:.1%} "
        f"(mean width {result['interval_mean_width']:.1f} years); Challenge-25 "
        f"{pct(c25['rate'])} of {c25['n']}; "
        f"MAE averaged over ages 13–30 {result['age_checks']['mae_13_30_mean_of_years']:.2f}"
    )
    for dimension in ("gender", "ethnicity"):
        block = result["by_label"][dimension]["adults_20_59"]
        if "worst_to_best_mae" in block:
            standardised = block.get("age_standardised", {}).get("worst_to_best_mae")
            blocks.append(
                f"{dimension} 20–59: worst {block['worst']}, best {block['best']}, ratio "
                f"{block['worst_to_best_mae']}; age-standardised ratio {standardised}"
            )
    return "\n".join(blocks)
