"""Damaged or tampered delta files are refused by load and export, naming the file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from search_space import apply_structure, backbone_fingerprint, load_backbone, manual_structure
from search_space.structure import Structure
from search_space.structure_check import StructureMismatchError
from search_space.weights import DeltaFileError, save_delta
from workers.delta_loading import export_trained, load_trained

EXTRA = {"task": "glue/sst2", "pooling": "mean"}


@pytest.fixture(scope="module")
def honest(tiny_bert_dir, tmp_path_factory) -> tuple[Path, Structure, dict[str, torch.Tensor], str]:
    model, _ = load_backbone(str(tiny_bert_dir))
    structure = manual_structure("lnfit", model, str(tiny_bert_dir))
    tensors = apply_structure(model, structure).named_tensors()
    fingerprint = backbone_fingerprint(load_backbone(str(tiny_bert_dir))[0])
    path = tmp_path_factory.mktemp("delta") / "delta.safetensors"
    save_delta(path, tensors, structure, fingerprint, extra=EXTRA)
    return path, structure, tensors, fingerprint


def test_the_honest_file_loads_and_exports(honest, tmp_path) -> None:
    path, structure, _, _ = honest
    assert load_trained(path).deltas.num_params() == structure.total_size
    export_trained(path, tmp_path / "native", "native")
    assert (tmp_path / "native" / "delta.safetensors").is_file()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_file_is_one_error_naming_it(honest, tmp_path, damage) -> None:
    path, *_ = honest
    bad = tmp_path / "delta.safetensors"
    data = path.read_bytes()
    bad.write_bytes(
        {"truncated": data[: len(data) // 2], "garbage": b"\x00\xff" * 64, "empty": b""}[damage]
    )
    for action in (
        lambda: load_trained(bad),
        lambda: export_trained(bad, tmp_path / "out", "native"),
    ):
        with pytest.raises(DeltaFileError) as caught:
            action()
        assert str(bad) in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_a_tampered_size_is_refused_by_load_and_export(honest, tmp_path) -> None:
    _path, structure, tensors, fingerprint = honest
    entries = list(structure.entries)
    entries[0] = dataclasses.replace(entries[0], size=1)
    tampered = tmp_path / "delta.safetensors"
    save_delta(
        tampered,
        tensors,
        dataclasses.replace(structure, entries=tuple(entries)),
        fingerprint,
        extra=EXTRA,
    )
    with pytest.raises(StructureMismatchError, match=r"entries\[0\] .*claims size 1"):
        load_trained(tampered)
    for fmt in ("native", "peft"):
        with pytest.raises(StructureMismatchError, match=str(tampered)):
            export_trained(tampered, tmp_path / fmt, fmt)  # type: ignore[arg-type]
        assert not (tmp_path / fmt).exists(), "a tampered file must not be copied"


def test_a_tensor_of_the_wrong_shape_is_refused(honest, tmp_path) -> None:
    _path, structure, tensors, fingerprint = honest
    name = next(iter(tensors))
    bad = tmp_path / "delta.safetensors"
    save_delta(bad, {**tensors, name: torch.zeros(3)}, structure, fingerprint, extra=EXTRA)
    with pytest.raises(DeltaFileError, match=rf"{name} has shape \(3,\)"):
        load_trained(bad)
    with pytest.raises(DeltaFileError):
        export_trained(bad, tmp_path / "out", "native")
    assert not (tmp_path / "out").exists()


def test_metadata_that_is_not_json_is_refused(honest, tmp_path) -> None:
    _path, _, tensors, fingerprint = honest
    bad = tmp_path / "delta.safetensors"
    metadata = {"format": "s3delta.delta", "backbone_hash": fingerprint, "structure": "{oops"}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(bad), metadata=metadata)
    with pytest.raises(DeltaFileError, match="not JSON"):
        load_trained(bad)
