"""The per-label report: labels parsed from UTKFace names, small cells marked, intervals around the MAE."""

from __future__ import annotations

import pytest
import torch

from training.groups import MIN_CELL, group_report, utkface_groups


def test_labels_come_from_the_name_and_missing_fields_stay_unknown() -> None:
    assert utkface_groups("34_1_2_20170116174525125.jpg.chip.jpg") == {
        "gender": "female",
        "ethnicity": "Asian",
    }
    assert utkface_groups("39_1_20170116174525125.jpg.chip.jpg") == {"gender": "female", "ethnicity": None}
    assert utkface_groups("not-a-chip.jpg") == {"gender": None, "ethnicity": None}


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


def test_group_weights_lift_rare_cells_and_keep_mean_one() -> None:
    from training.groups import group_weights

    names = ["30_0_0_x.jpg"] * 90 + ["30_0_2_x.jpg"] * 10  # White x90, Asian x10, same decade
    weights = group_weights(torch.full((100,), 30.0), names)
    assert abs(float(weights.mean()) - 1) < 1e-5
    assert float(weights[-1]) == pytest.approx(9 * float(weights[0]), rel=1e-4)  # each cell sums the same
    assert float(weights[:90].sum()) == pytest.approx(float(weights[90:].sum()), rel=1e-4)


def test_worst_group_among_adults_ignores_small_cells() -> None:
    from training.groups import worst_group_mae

    names = ["30_0_0_x.jpg"] * 40 + ["30_0_1_x.jpg"] * 40 + ["30_0_2_x.jpg"] * 5
    true = torch.full((85,), 30.0)
    pred = true + torch.cat([torch.full((40,), 3.0), torch.full((40,), 5.0), torch.full((5,), 20.0)])
    assert worst_group_mae(pred, true, names) == ("Black", 5.0)


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


def test_group_dro_moves_weight_to_the_group_that_loses_most() -> None:
    """Online group DRO: the loss is the weighted mean of the groups' means; weight follows the loss."""
    from training.groups import GroupDro

    names = ["30_0_0_1.jpg.chip.jpg"] * 4 + ["30_0_2_1.jpg.chip.jpg"] * 4 + ["30_0_1.jpg.chip.jpg"] * 2
    dro = GroupDro(names, eta=0.5)
    assert dro.names == ["Asian", "White", "unlabelled"] and dro.weights() == pytest.approx(
        {"Asian": 1 / 3, "White": 1 / 3, "unlabelled": 1 / 3}, abs=1e-3
    )
    per_sample = torch.tensor([2.0] * 4 + [1.0] * 4 + [1.5] * 2, requires_grad=True)
    idx = torch.arange(10)
    loss = dro.loss(per_sample, idx)
    weights = dro.weights()
    assert weights["White"] > weights["unlabelled"] > weights["Asian"]
    expected = (weights["White"] * 2.0 + weights["Asian"] * 1.0 + weights["unlabelled"] * 1.5) / sum(
        weights.values()
    )
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-3)
    loss.backward()  # gradients reach every face, more to the losing group's
    assert per_sample.grad[0] > per_sample.grad[4] > 0
    only_asian = dro.loss(torch.tensor([1.0] * 4), torch.arange(4, 8))  # a batch without the other groups
    assert float(only_asian) == pytest.approx(1.0)
