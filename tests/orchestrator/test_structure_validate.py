"""`validate` checks a `manual/<file>` structure on the sweep's backbone (no weights loaded):
a correct file passes, sizes, positions, budget and backbone that do not fit are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.sweep import SweepValidationError, load_sweep

ENTRY = {
    "path": "encoder.layer.0.output.LayerNorm",
    "kind": "bitfit",
    "size": 384,
    "rank": 1,
    "width": 0,
    "layer": 0,
    "role": "ffn_norm",
    "stack": "encoder",
}


def _sweep(folder: Path, entry: dict, **fields: object) -> Path:
    structure = {
        "format": "s3delta.structure",
        "version": 1,
        "backbone": "sentence-transformers/all-MiniLM-L6-v2",
        "backbone_params": 22713216,
        "budget": 1000,
        "space": "manual",
        "entries": [entry],
        **fields,
    }
    (folder / "st.json").write_text(json.dumps(structure))
    path = folder / "sweep.yaml"
    path.write_text(
        "name: st\nmodel: sentence-transformers/all-MiniLM-L6-v2\ntasks: [glue/sst2]\n"
        "methods: [manual/st.json]\nseeds: [1]\n"
    )
    return path


def test_a_structure_that_fits_the_backbone_validates(tmp_path: Path) -> None:
    sweep = load_sweep(_sweep(tmp_path, ENTRY))
    assert sweep.methods == [f"manual/{tmp_path / 'st.json'}"]


@pytest.mark.parametrize(
    ("entry", "fields", "fragment"),
    [
        ({**ENTRY, "size": 1}, {}, "claims size 1 but a bitfit there has 384 parameters"),
        (ENTRY, {"budget": 100}, "its entries hold 384 parameters, over its budget of 100"),
        (ENTRY, {"backbone_params": 7}, "built for a backbone of 7 parameters"),
        ({**ENTRY, "kind": "lora"}, {}, "kind 'lora' cannot sit on a norm"),
    ],
)
def test_a_structure_that_does_not_fit_is_refused(
    tmp_path: Path, entry: dict, fields: dict, fragment: str
) -> None:
    with pytest.raises(SweepValidationError) as caught:
        load_sweep(_sweep(tmp_path, entry, **fields))
    assert any(
        line.startswith("methods[0]: ") and fragment in line for line in caught.value.problems
    )
