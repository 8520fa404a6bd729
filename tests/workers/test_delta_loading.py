"""A trial's delta.safetensors rebuilds the trained model and exports to PEFT."""

from __future__ import annotations

import pytest
import torch

from tests.workers.test_trial import tiny_cfg
from workers.delta_loading import export_trained, load_trained
from workers.trial import run_trial


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("trial")
    cfg = tiny_cfg(tiny_bert_dir, method="manual/lora-qv-r8", output_dir=str(out), lora_scale=2.0)
    return run_trial(cfg), out


def test_load_trained_rebuilds_the_trained_sizes_and_loads_deterministically(trained):
    result, out = trained
    model = load_trained(out / "delta.safetensors")
    assert model.deltas is not None and model.deltas.num_params() == result.delta_params
    assert model.head_params() == result.head_params
    ids = torch.tensor([[101, 2023, 2003, 102]])
    with torch.no_grad():
        a = model.logits({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
        b = load_trained(out / "delta.safetensors").logits({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    assert torch.equal(a, b)


def test_export_native_and_peft(trained, tmp_path, tiny_bert_dir):
    from peft import PeftModel
    from transformers import AutoModel

    _, out = trained
    export_trained(out / "delta.safetensors", tmp_path / "native", "native")
    assert {p.name for p in (tmp_path / "native").iterdir()} == {"delta.safetensors", "structure.json"}
    support = export_trained(out / "delta.safetensors", tmp_path / "peft", "peft")
    assert support is not None and support.complete
    ours = load_trained(out / "delta.safetensors")
    peft_model = PeftModel.from_pretrained(AutoModel.from_pretrained(tiny_bert_dir), tmp_path / "peft").eval()
    ids = torch.tensor([[101, 2023, 2003, 1037, 102]])
    with torch.no_grad():
        theirs = peft_model(input_ids=ids).last_hidden_state
        mine = ours.backbone(input_ids=ids).last_hidden_state
    assert torch.allclose(theirs, mine, atol=1e-5)
    assert (tmp_path / "peft" / "head.safetensors").is_file()


def test_wrong_backbone_is_refused(trained, tiny_t5_dir):
    from search_space import BackboneMismatchError

    _, out = trained
    with pytest.raises(BackboneMismatchError):
        load_trained(out / "delta.safetensors", model_name=str(tiny_t5_dir))
