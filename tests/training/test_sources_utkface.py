"""UTKFace names carry the labels; malformed names must parse (age) or be skipped, never crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_testdata import UTKFACE, link_chips

from training.sources import iter_source
from training.sources.utkface import iter_samples, parse_name


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("26_1_2_20170116174525125.jpg.chip.jpg", {"age": 26, "gender": 1, "race": 2}),
        # the three kinds of damage listed in ../shared/README.md
        ("24_0_1_20170116220224657 .jpg.chip.jpg", {"age": 24, "gender": 0, "race": 1}),
        ("39_1_20170116174525125.jpg.chip.jpg", {"age": 39, "gender": 1}),
        ("55_0_0_20170116232725357jpg.chip.jpg", {"age": 55, "gender": 0, "race": 0}),
        ("116_0_0_20170120134921760.jpg.chip.jpg", {"age": 116, "gender": 0, "race": 0}),
        ("3_x_7_2017.jpg.chip.jpg", {"age": 3, "gender": None, "race": None}),
    ],
)
def test_parse_name_reads_labels_from_good_and_malformed_names(name: str, labels: dict) -> None:
    assert parse_name(name) == labels


@pytest.mark.parametrize("name", ["", "README.md", "x_1_2_3.jpg", "_1_2_3.jpg", "1234_0_0_1.jpg"])
def test_parse_name_refuses_names_without_an_age(name: str) -> None:
    assert parse_name(name) is None


def test_real_malformed_names_exist_and_parse() -> None:
    odd = [
        p.name
        for p in UTKFACE.iterdir()
        if p.name.count("_") != 3 or " " in p.name or ".jpg.chip" not in p.name
    ]
    assert odd, "../shared/README.md promises malformed names"
    for name in odd:
        assert parse_name(name) is not None, name


def test_iter_samples_on_real_chips_skips_what_is_not_a_labelled_image(tmp_path: Path) -> None:
    names = [*sorted(p.name for p in UTKFACE.iterdir())[:5], "39_1_20170116174525125.jpg.chip.jpg"]
    folder = link_chips(tmp_path / "utk", [n for n in names if (UTKFACE / n).exists()])
    (folder / "notes.txt").write_text("not an image")
    (folder / "no_age_here.jpg").write_bytes(b"\xff\xd8")
    (folder / "sub").mkdir()
    samples = list(iter_samples(folder))
    assert [s.path.name for s in samples] == sorted(p.name for p in folder.glob("*chip*"))
    assert all(s.source == "utkface" and s.age == parse_name(s.path.name)["age"] for s in samples)
    assert all(s.path.is_file() for s in samples)


def test_age_range_and_registry(tmp_path: Path) -> None:
    chips = sorted(p.name for p in UTKFACE.iterdir())
    young = [n for n in chips if n.startswith("1_")][:3]
    old = [n for n in chips if n.startswith("90_")][:2]
    folder = link_chips(tmp_path / "utk", young + old)
    samples = list(iter_source("utkface", folder, age_range=(0, 80)))
    assert sorted(s.path.name for s in samples) == sorted(young)
    with pytest.raises(ValueError, match="unknown source"):
        iter_source("celeba", folder)
