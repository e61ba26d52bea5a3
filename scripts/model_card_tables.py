"""Markdown tables for the model card from `python -m training evaluate ... --checks ... --json` output.

    python -m training evaluate --checkpoint models/age-resnet50.safetensors \\
        --prepared data/prepared/utkface-160 --split test --checks 13,18,21,25 --json > test.json
    python scripts/model_card_tables.py test.json
"""

from __future__ import annotations

import json
import sys


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


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        result = json.load(handle)
    c25 = result["age_checks"]["challenge_25"]
    for block in (accuracy(result), checks(result), groups(result)):
        print("\n".join(block) + "\n")
    print(
        f"CS@5 {result['cs5']:.1%}; 80 % interval coverage {result['interval_coverage']:.1%} "
        f"(mean width {result['interval_mean_width']:.1f} years); Challenge-25 "
        f"{pct(c25['rate'])} of {c25['n']}; "
        f"MAE averaged over ages 13–30 {result['age_checks']['mae_13_30_mean_of_years']:.2f}"
    )
    for dimension in ("gender", "ethnicity"):
        block = result["by_label"][dimension]["adults_20_59"]
        if "worst_to_best_mae" in block:
            ratio = block["worst_to_best_mae"]
            standardised = block.get("age_standardised", {}).get("worst_to_best_mae")
            print(
                f"{dimension} 20–59: worst {block['worst']}, best {block['best']}, ratio {ratio}; "
                f"age-standardised ratio {standardised}"
            )
