"""The per-label report: labels from the data source, small cells marked, intervals around the MAE."""

from __future__ import annotations

import pytest
import torch

from training.groups import MIN_CELL, group_report, worst_group_mae
from training.sources import group_labels


def test_utkface_labels_come_from_the_name_and_missing_fields_stay_unknown() -> None:
    assert group_labels("utkface", "34_1_2_20170116174525125.jpg.chip.jpg") == {
        "gender": "female",
        "ethnicity": "Asian",
    }
    assert group_labels("utkface", "39_1_20170116174525125.jpg.chip.jpg") == {
        "gender": "female",
        "ethnicity": None,
    }
    assert group_labels("utkface", "not-a-chip.jpg") == {"gender": None, "ethnicity": None}


def test_sources_without_labels_say_so() -> None:
    """An IMDB-WIKI face is not an unlabelled UTKFace face: its source records no labels at all."""
    assert group_labels("imdb-wiki", "01/nm0000001_rm1_1899-5-10_1968.jpg") is None
    assert group_labels("appa-real", "000001.jpg_face.jpg") is None
    with pytest.raises(ValueError, match="unknown source"):
        group_labels("lfw", "x.jpg")
    true = torch.full((40,), 30.0)
    assert worst_group_mae(true + 2, true, [None] * 40) is None
    report = group_report(true + 2, true, [None] * 20 + [{"gender": "male", "ethnicity": "White"}] * 20)
    assert report["n_without_labels"] == 20 and report["ethnicity"]["all"]["cells"]["White"]["n"] == 20


def test_report_per_cell_with_small_cells_marked_and_the_spread_among_adults() -> None:
    generator = torch.Generator().manual_seed(0)
    true = torch.cat([torch.full((100,), 30.0), torch.full((60,), 40.0), torch.full((10,), 50.0)])
    noise = torch.randn(len(true), generator=generator)
    error = torch.cat([torch.full((100,), 4.0), torch.full((60,), 6.0), torch.full((10,), 2.0)])
    pred = true + error * noise.sign()
    groups = [{"gender": "male", "ethnicity": "White"}] * 100
    groups += [{"gender": "female", "ethnicity": "Black"}] * 60 + [
        {"gender": None, "ethnicity": "Asian"}
    ] * 10
    p_over = torch.stack([(pred >= 18).float(), (pred >= 45).float()], dim=1)
    report = group_report(pred, true, groups, p_over, [18, 45])
    cells = report["ethnicity"]["all"]["cells"]
    assert cells["White"]["n"] == 100 and cells["White"]["mae"] == 4.0 and not cells["White"]["too_small"]
    assert cells["Asian"]["n"] == 10 < MIN_CELL and cells["Asian"]["too_small"]
    low, high = cells["Black"]["mae_ci95"]
    assert low <= cells["Black"]["mae"] <= high
    adults = report["ethnicity"]["adults_20_59"]
    assert adults["worst"] == "Black" and adults["best"] == "White" and adults["worst_to_best_mae"] == 1.5
    assert set(report["gender"]["all"]["cells"]) == {"male", "female"}  # unknown labels are left out
    checks = cells["White"]["age_checks"]["45"]
    assert checks["n_under"] == 100 and 0 <= checks["false_accept_rate"] <= 1


def test_worst_group_among_adults_ignores_small_cells() -> None:
    names = ["30_0_0_x.jpg"] * 40 + ["30_0_1_x.jpg"] * 40 + ["30_0_2_x.jpg"] * 5
    groups = [group_labels("utkface", name) for name in names]
    true = torch.full((85,), 30.0)
    pred = true + torch.cat([torch.full((40,), 3.0), torch.full((40,), 5.0), torch.full((5,), 20.0)])
    assert worst_group_mae(pred, true, groups) == ("Black", 5.0)


def test_age_standardised_mae_removes_a_gap_that_only_the_age_mix_makes() -> None:
    # Both groups err 2 years in their 20s and 6 in their 50s; A is mostly 50s, B mostly 20s.
    ages = [25.0] * 10 + [55.0] * 40 + [25.0] * 40 + [55.0] * 10
    errors = [2.0] * 10 + [6.0] * 40 + [2.0] * 40 + [6.0] * 10
    groups = [{"gender": None, "ethnicity": "White"}] * 50 + [{"gender": None, "ethnicity": "Asian"}] * 50
    true = torch.tensor(ages)
    report = group_report(true + torch.tensor(errors), true, groups)["ethnicity"]["adults_20_59"]
    assert report["worst_to_best_mae"] == pytest.approx(5.2 / 2.8, abs=1e-3)  # crude: 1.86
    cells = report["cells"]
    assert cells["White"]["mae_age_standardised"] == cells["Asian"]["mae_age_standardised"] == 4.0
    assert report["age_standardised"]["worst_to_best_mae"] == 1.0
