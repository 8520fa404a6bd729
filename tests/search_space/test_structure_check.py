"""A structure's claims (sizes, budget, backbone) are recomputed, never taken on trust."""

from __future__ import annotations

import dataclasses
import json

import pytest

from search_space import Structure, StructureFormatError, apply_structure, manual_structure
from search_space.positions import backbone_params
from search_space.structure_check import StructureMismatchError, structure_problems


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir):
    from search_space import load_backbone

    model, _ = load_backbone(str(tiny_bert_dir))
    return model


@pytest.fixture
def lnfit(tiny) -> Structure:
    """LNFit on every norm of the tiny BERT (width 32: 32 parameters per norm)."""
    return manual_structure("lnfit", tiny, "tiny")


def _with(structure: Structure, **changes) -> Structure:
    return dataclasses.replace(structure, **changes)


def test_an_honest_structure_has_no_problems(tiny, lnfit) -> None:
    assert structure_problems(lnfit, tiny) == []
    assert apply_structure(tiny, lnfit).num_params() == lnfit.total_size


def test_a_wrong_size_is_refused_naming_the_entry(tiny, lnfit) -> None:
    entries = list(lnfit.entries)
    entries[2] = dataclasses.replace(entries[2], size=1)
    with pytest.raises(StructureMismatchError) as caught:
        apply_structure(tiny, _with(lnfit, entries=tuple(entries)))
    message = str(caught.value)
    assert f"entries[2] ({entries[2].name}): claims size 1 but a lnfit there has 32" in message
    assert "\n" not in message


def test_a_duplicated_entry_is_refused(tiny, lnfit) -> None:
    doubled = _with(lnfit, entries=(*lnfit.entries, lnfit.entries[0]))
    problems = structure_problems(doubled, tiny)
    assert problems == [
        f"entries[{len(lnfit.entries)}] ({lnfit.entries[0].name}): repeats entries[0]; "
        "list each position and kind once"
    ]


def test_a_structure_over_its_budget_is_refused(tiny, lnfit) -> None:
    problems = structure_problems(_with(lnfit, budget=lnfit.total_size - 1), tiny)
    assert problems == [
        f"its entries hold {lnfit.total_size:,} parameters, over its budget of "
        f"{lnfit.total_size - 1:,}; remove entries or raise the budget"
    ]


def test_a_structure_for_another_backbone_is_refused(tiny, lnfit) -> None:
    other = _with(lnfit, backbone_params=backbone_params(tiny) + 1, backbone="other/model")
    with pytest.raises(StructureMismatchError, match="built for a backbone of"):
        apply_structure(tiny, other)
    moved = _with(lnfit, entries=(dataclasses.replace(lnfit.entries[0], path="no.such.norm"),))
    assert "has no position 'no.such.norm'" in structure_problems(moved, tiny)[0]


def test_json_entries_with_wrong_types_are_refused(lnfit, tmp_path) -> None:
    data = lnfit.to_dict()
    data["entries"][0]["size"] = "64"
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    with pytest.raises(StructureFormatError, match=r"entries\[0\]: size must be a whole number"):
        Structure.load(path)
    data["entries"][0]["size"] = 0
    path.write_text(json.dumps(data))
    with pytest.raises(StructureFormatError, match="size must be a positive whole number"):
        Structure.load(path)
