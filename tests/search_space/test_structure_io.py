"""Structure JSON, delta safetensors with backbone hash, and PEFT export round-trips."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel

from search_space import (
    BackboneMismatchError,
    Structure,
    StructureFormatError,
    apply_structure,
    backbone_fingerprint,
    backbone_params,
    find_candidates,
    random_select,
    read_delta,
    save_delta,
    structure_from_candidates,
)
from search_space.peft_export import PeftExportError, export_peft
from search_space.structure import StructureEntry
from search_space.weights import check_backbone


def _structure(model, name="tiny", seed=0, budget=3000):
    cands = find_candidates(model, "M")
    chosen = random_select(cands, budget, seed)
    return structure_from_candidates(chosen, name, backbone_params(model), budget, "M")


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def _out(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).last_hidden_state


def test_structure_json_round_trip(tmp_path, tiny_bert_dir):
    model = AutoModel.from_pretrained(tiny_bert_dir)
    s = _structure(model)
    path = s.save(tmp_path / "s.json")
    assert Structure.load(path) == s
    data = json.loads(path.read_text())
    assert data["format"] == "s3delta.structure" and data["version"] == 1
    assert data["total_size"] == s.total_size <= 3000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"format": "other"}', "not an s3delta structure"),
        ('{"format": "s3delta.structure", "version": 9}', "version 9 is not supported"),
        ('{"format": "s3delta.structure", "version": 1, "entries": [{"bogus": 1}]}', "malformed"),
    ],
)
def test_structure_load_errors(tmp_path, content, message):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(StructureFormatError, match=message):
        Structure.load(tmp_path / "bad.json")


def test_delta_save_load_round_trip_and_wrong_backbone(tmp_path, tiny_bert_dir):
    model = AutoModel.from_pretrained(tiny_bert_dir)
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102]])
    s = _structure(model, seed=1)
    deltas = apply_structure(model, s)
    _randomise(deltas)
    expected = _out(model, ids)
    path = save_delta(
        tmp_path / "delta.safetensors",
        deltas.named_tensors(),
        s,
        backbone_fingerprint(model),
        head={"weight": torch.ones(2, 3)},
    )
    assert path.read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle

    fresh = AutoModel.from_pretrained(tiny_bert_dir)
    tensors, head, meta = read_delta(path)
    check_backbone(path, meta, fresh)
    loaded = apply_structure(fresh, Structure.from_dict(json.loads(meta["structure"])))
    loaded.load_named_tensors(tensors)
    assert torch.allclose(_out(fresh, ids), expected, atol=1e-6)
    assert torch.equal(head["weight"], torch.ones(2, 3))

    other = AutoModel.from_pretrained(tiny_bert_dir)
    with torch.no_grad():
        other.embeddings.word_embeddings.weight[0, 0] += 1.0
    with pytest.raises(BackboneMismatchError, match="trained on backbone 'tiny'"):
        check_backbone(path, meta, other)


def test_peft_round_trip_matches_ours(tmp_path, tiny_bert_dir):
    from peft import PeftModel

    model = AutoModel.from_pretrained(tiny_bert_dir)
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102]])
    entries = (
        StructureEntry("encoder.layer.0.attention.self.query", "lora", 8 * 64, (("rank", 8),)),
        StructureEntry("encoder.layer.1.attention.self.value", "lora", 64, (("rank", 1),)),
        StructureEntry("encoder.layer.1.output.dense", "lora", 2 * 96, (("rank", 2),)),
        StructureEntry("encoder.layer.0.attention.output.LayerNorm", "lnfit", 32),
        StructureEntry("encoder.layer.0.attention.output.LayerNorm", "bitfit", 32),
        StructureEntry("embeddings.LayerNorm", "lnfit", 32),
    )
    s = Structure(entries, "tiny", backbone_params(model), None)
    deltas = apply_structure(model, s, lora_scale=2.0)
    _randomise(deltas, seed=2)
    ours = _out(model, ids)
    support = export_peft(
        s,
        deltas.named_tensors(),
        AutoModel.from_pretrained(tiny_bert_dir),
        tmp_path / "peft",
        lora_scale=2.0,
    )
    assert support.complete
    peft_model = PeftModel.from_pretrained(
        AutoModel.from_pretrained(tiny_bert_dir), tmp_path / "peft"
    )
    peft_model.eval()
    with torch.no_grad():
        theirs = peft_model(input_ids=ids).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_peft_reports_what_it_cannot_express(tmp_path, tiny_bert_dir):
    """LRA has no PEFT form; BitFit on a Linear does (PEFT's lora_bias), so only LRA is listed."""
    model = AutoModel.from_pretrained(tiny_bert_dir)
    entries = (
        StructureEntry("encoder.layer.0.attention.self.query", "lora", 64),
        StructureEntry("encoder.layer.0.intermediate.dense", "bitfit", 64),
        StructureEntry("encoder.layer.1.attention", "lra", 32 + 2 + 1 + 64),
    )
    s = Structure(entries, "tiny", backbone_params(model), None)
    deltas = apply_structure(model, s)
    with pytest.raises(PeftExportError, match=r"1 entries.*attention:lra") as refused:
        export_peft(
            s, deltas.named_tensors(), AutoModel.from_pretrained(tiny_bert_dir), tmp_path / "p"
        )
    support = export_peft(
        s,
        deltas.named_tensors(),
        AutoModel.from_pretrained(tiny_bert_dir),
        tmp_path / "p",
        partial=True,
    )
    assert "intermediate.dense:bitfit" not in str(refused.value)
    listed = json.loads((tmp_path / "p" / "s3delta_unsupported.json").read_text())
    assert set(listed) == {"encoder.layer.1.attention:lra"}
    assert not support.complete


def _legacy_entry(path: str, kind: str, size: int, rank: int = 1, width: int = 0) -> dict:
    """An entry as structure files were written before the kind registry (issue 11)."""
    return {"path": path, "kind": kind, "size": size, "rank": rank, "width": width}


def test_files_with_rank_and_width_on_every_entry_still_load(tmp_path, tiny_bert_dir):
    """Old files: rank 1/width 0 on every kind, width 0 meaning the adapter's default 24."""
    from search_space.structure_check import structure_problems

    model = AutoModel.from_pretrained(tiny_bert_dir)
    old = {
        "format": "s3delta.structure",
        "version": 1,
        "backbone": "tiny",
        "backbone_params": backbone_params(model),
        "budget": None,
        "space": "manual",
        "entries": [
            _legacy_entry("encoder.layer.0.attention.self.query", "lora", 8 * 64, rank=8),
            _legacy_entry("encoder.layer.0.intermediate.dense", "bitfit", 64),
            _legacy_entry("encoder.layer.0.attention", "adapter", 2 * 32 * 24 + 24 + 32),
            _legacy_entry("encoder.layer.1.attention", "adapter", 2 * 32 * 16 + 16 + 32, width=16),
        ],
    }
    (tmp_path / "old.json").write_text(json.dumps(old))
    structure = Structure.load(tmp_path / "old.json")
    assert structure_problems(structure, model) == []
    assert apply_structure(model, structure).num_params() == structure.total_size
    written = [
        {k: v for k, v in e.items() if k not in ("layer", "role", "stack")}
        for e in structure.to_dict()["entries"]
    ]
    assert written == [  # loaded as it was; re-read it gives the same structure
        {**e} for e in old["entries"]
    ]
    fresh = Structure.from_dict(structure.to_dict())
    assert fresh == structure
    # a field an old file could hold but no kind of that name has, at a non-default value
    odd = dict(old, entries=[_legacy_entry("encoder.layer.0.intermediate.dense", "bitfit", 64, rank=2)])
    assert structure_problems(Structure.from_dict(odd), model) == [
        "entries[0] (encoder.layer.0.intermediate.dense:bitfit): kind 'bitfit' has no option "
        "'rank' (its options: none)"
    ]


def test_new_files_hold_only_each_kind_own_options(tiny_bert_dir):
    from search_space import manual_structure

    model = AutoModel.from_pretrained(tiny_bert_dir)
    lora = manual_structure("lora-qv-r8", model, "tiny").to_dict()["entries"][0]
    adapter = manual_structure("adapter", model, "tiny").to_dict()["entries"][0]
    bitfit = manual_structure("bitfit", model, "tiny").to_dict()["entries"][0]
    assert list(lora) == ["path", "kind", "size", "rank", "layer", "role", "stack"]
    assert (lora["rank"], adapter["width"]) == (8, 24)
    assert "rank" not in adapter and "rank" not in bitfit and "width" not in bitfit
