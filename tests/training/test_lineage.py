"""The shipped model's lineage (training/configs/shipped/): walked from `random` as a dry run, it chains
stage to stage and ends at the shipped resolved config and weights."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from training_testdata import REPO

from inference_service.vision.checkpoint import read_metadata
from training import lineage
from training.cli import main
from training.config import to_toml

LAST = REPO / "training/configs/shipped/08-cpu-bf16-stage12-112px-consistent-long.toml"
AS_STAGE = "09-cpu-candidate.toml"  # a candidate's name in the lineage folder, had it won


def _candidate(folder: Path, weights: str = "unknown") -> Path:
    """A next stage as the candidates folder would hold it: the last stage's recipe, from its output."""
    last = lineage.read_stage(LAST)
    text = LAST.read_text()
    text = text.replace(f'out_dir = "{last.config.run.out_dir}"', 'out_dir = "runs/cpu-candidate"')
    text = text.replace(f'init = "{last.config.model.init}"', f'init = "{last.output}"')
    text = re.sub(r'weights_sha256 = "[0-9a-f]{64}"', f'weights_sha256 = "{weights}"', text)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / AS_STAGE
    path.write_text(text)
    return path


def test_the_lineage_walks_from_random_to_the_shipped_config() -> None:
    found = lineage.walk()
    stages = found.stages
    assert stages[0].config.model.init == "random"
    assert all(later.config.model.init == earlier.output for earlier, later in itertools.pairwise(stages))
    assert lineage.recipe_differences(stages[-1], lineage.SHIPPED_CONFIG) == []
    shipped_resnet = read_metadata(lineage.SHIPPED_CHECKPOINT)  # the model itself, or the ensemble's member
    assert found.final.run.version == shipped_resnet.version


def test_the_last_stage_records_the_shipped_weights() -> None:
    assert lineage.shipped_weights_differ(lineage.walk()) is None


def test_every_stage_with_a_record_equals_it() -> None:
    """Each stage whose run's resolved config is in git history resolves to exactly that config."""
    stages = [stage for stage in lineage.walk().stages if stage.recorded_config]
    assert len(stages) >= 5  # 1, 2, 3, 5 and 6: stage 4's own config was never committed
    for stage in stages:
        try:
            record = lineage.read_record(stage.recorded_config)
        except (subprocess.CalledProcessError, FileNotFoundError):
            pytest.skip(f"no git history here for {stage.recorded_config}")
        assert record["run"]["out_dir"] == stage.config.run.out_dir
        assert lineage.recipe_differences(stage, stage.recorded_config) == []


def test_a_changed_default_is_not_taken_for_the_recipe(tmp_path: Path) -> None:
    """A run recorded before run.precision existed was fp32; today's default (auto) would be bf16 there."""
    stage = lineage.read_stage(lineage.SHIPPED / "01-cpu-interim.toml")
    record = tmp_path / "recorded.toml"
    recorded = stage.config.to_dict()
    for key in lineage.ADDED_AFTER_RUN:  # what a resolved config of that time held
        section, name = key.split(".")
        del recorded[section][name]
    text = to_toml(recorded)
    record.write_text(text)
    assert lineage.recipe_differences(stage, record) == []
    stage.config.run.precision = "auto"
    assert lineage.recipe_differences(stage, record) == [
        "01-cpu-interim.toml: run.precision = 'auto'; the run predates the key and did 'fp32'"
    ]
    record.write_text(text + "[extra]\nsetting = 1\n")
    assert "extra.setting: recorded, no longer a key" in lineage.recipe_differences(stage, record)[0]


def test_a_removed_key_is_accepted_only_with_the_value_the_code_now_always_does(tmp_path: Path) -> None:
    """Records hold data.balance, model.head, ...; today's code always trains as balance = none did."""
    stage = lineage.read_stage(lineage.SHIPPED / "06-cpu-bf16-stage6-112px.toml")
    recorded = stage.config.to_dict()
    recorded["data"].update(balance="none", age_cap=5000, lds_sigma=2.0)
    recorded["model"]["head"] = "bins"
    record = tmp_path / "recorded.toml"
    record.write_text(to_toml(recorded))
    assert lineage.recipe_differences(stage, record) == []
    recorded["data"]["balance"] = "lds"
    record.write_text(to_toml(recorded))
    assert lineage.recipe_differences(stage, record) == [
        "06-cpu-bf16-stage6-112px.toml: data.balance: recorded 'lds', removed since; "
        "today's code always does 'none'"
    ]


def _copy_shipped(tmp_path: Path) -> Path:
    folder = tmp_path / "shipped"
    shutil.copytree(lineage.SHIPPED, folder)
    return folder


def test_a_candidate_stage_joins_by_adding_one_file(tmp_path: Path) -> None:
    candidate = _candidate(tmp_path / "candidates")
    assert lineage.walk(then=(candidate,)).final.optim.distill_from  # the candidate as it is, walked after
    folder = _copy_shipped(tmp_path)
    _candidate(folder, "0" * 64)
    found = lineage.walk(folder)
    assert [s.path.name for s in found.stages][-2:] == [LAST.name, AS_STAGE]
    assert "runs/teacher-mobilenet_v2-128px/best.safetensors" in found.teachers


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (  # the trap the lineage replaces: a stage that starts from whatever the shipped file is now
            'init = "runs/cpu-bf16-stage5-96px/best.safetensors"',
            'init = "models/age-resnet50.safetensors"',
            "must be 'runs/cpu-bf16-stage5-96px/best.safetensors'",
        ),
        (
            "[optim]\n",
            '[optim]\ndistill_from = ["elsewhere.safetensors"]\n',
            "no earlier stage's or teacher's",
        ),
        ("[lineage]\n", "[lineage]\nsha = 1\n", "unknown lineage keys"),
        ('weights_sha256 = "8dcf', 'weights_sha256 = "xdcf', "64 hex digits"),
    ],
)
def test_walk_refuses_a_stage_that_does_not_chain(tmp_path: Path, old: str, new: str, message: str) -> None:
    folder = _copy_shipped(tmp_path)
    path = folder / "06-cpu-bf16-stage6-112px.toml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(lineage.LineageError, match=message):
        lineage.walk(folder)


def test_walk_refuses_gaps_and_an_unmeasured_shipped_stage(tmp_path: Path) -> None:
    folder = _copy_shipped(tmp_path)
    (folder / "03-cpu-interim-stage3.toml").unlink()
    with pytest.raises(lineage.LineageError, match="without gaps"):
        lineage.walk(folder)
    folder = _copy_shipped(tmp_path / "again")
    _candidate(folder)
    with pytest.raises(lineage.LineageError, match="weights_sha256 must be known"):
        lineage.walk(folder)


def test_cli_dry_run(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert main(["lineage"]) == 0
    out = capsys.readouterr().out
    assert "python -m training train --config training/configs/shipped/01-cpu-interim.toml" in out
    assert out.rstrip().endswith("matches weights " + str(lineage.SHIPPED_CHECKPOINT))
    assert main(["lineage", "--digest", str(lineage.SHIPPED_CHECKPOINT)]) == 0
    assert capsys.readouterr().out.strip() == lineage.walk().stages[-1].weights_sha256


def test_a_member_starts_from_imagenet_or_from_another_members_output(tmp_path: Path) -> None:
    """A member's second stage chains to its first; a member that starts from any other file is refused."""
    members = tmp_path / "members"
    shutil.copytree(lineage.MEMBERS, members)
    found = lineage._single_stages(members, "an ensemble member")
    second = found["runs/member-mobilenet_v2-160px-seed2-stage2/best.safetensors"]
    assert second.config.model.init in found
    path = members / second.path.name
    path.write_text(path.read_text().replace(second.config.model.init, "models/age-resnet50.safetensors"))
    with pytest.raises(lineage.LineageError, match="or another's output"):
        lineage._single_stages(members, "an ensemble member")
