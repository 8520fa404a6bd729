"""`s3delta export` never changes a model's predictions silently (real MiniLM, real PEFT).

Delta files are written here from hand-chosen structures with random non-zero weights
(no training needed): exports are loaded back with `PeftModel.from_pretrained` and their
outputs compared with the trained model's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from orchestrator.cli import app
from search_space import apply_structure, load_backbone
from search_space.positions import find_sites
from search_space.structure import Structure
from search_space.weights import backbone_fingerprint, save_delta
from tests.conftest import MINILM

# (site path, kind, rank): LoRA and BitFit on the same Linear, BitFit alone on a Linear,
# LNFit + BitFit on a LayerNorm
EXACT = (
    ("encoder.layer.0.attention.self.query", "lora", 2),
    ("encoder.layer.0.attention.self.query", "bitfit", 1),
    ("encoder.layer.3.output.dense", "bitfit", 1),
    ("encoder.layer.5.output.LayerNorm", "lnfit", 1),
    ("encoder.layer.5.output.LayerNorm", "bitfit", 1),
)
WITH_LRA = (*EXACT, ("encoder.layer.4.output", "lra", 1))


def _write_delta(folder: Path, chosen: tuple[tuple[str, str, int], ...]) -> Path:
    from search_space.positions import entry_at

    model, _ = load_backbone(MINILM)
    fingerprint = backbone_fingerprint(model)
    sites = {s.path: s for s in find_sites(model)}
    entries = tuple(
        entry_at(sites[path], kind, {"rank": rank} if kind == "lora" else {})
        for path, kind, rank in chosen
    )
    params = sum(p.numel() for p in model.parameters())
    structure = Structure(entries, MINILM, params, budget=5000, space="M")
    deltas = apply_structure(model, structure, lora_scale=2.0)
    torch.manual_seed(0)
    for p in deltas.parameters():
        p.data.normal_(0.0, 0.05)
    head = torch.nn.Linear(384, 2)
    return save_delta(
        folder / "delta.safetensors",
        deltas.named_tensors(),
        structure,
        fingerprint,
        head.state_dict(),
        extra={"task": "glue/sst2", "pooling": "mean", "lora_scale": "2.0"},
    )


@pytest.fixture(scope="module")
def exact_trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trial_exact")
    _write_delta(folder, EXACT)
    return folder


@pytest.fixture(scope="module")
def lra_trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trial_lra")
    _write_delta(folder, WITH_LRA)
    return folder


def _no_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("MLFLOW_TRACKING_URI", "S3DELTA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_bitfit_on_a_linear_exports_exactly_with_the_hub_name_and_a_model_card(
    exact_trial: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_store(monkeypatch, tmp_path)
    out = tmp_path / "adapter"
    result = CliRunner().invoke(app, ["export", str(exact_trial), str(out)])
    assert result.exit_code == 0, result.output
    assert "checked: on 8 inputs" in result.output and "WARNING" not in result.output
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == MINILM  # not the resolved local folder
    assert config["lora_bias"] is True
    card = (out / "README.md").read_text()
    for fact in (MINILM, "glue/sst2", "5,000 parameters", "lora x1", "bitfit x3", "lnfit x1"):
        assert fact in card, fact
    assert not (tmp_path / "runs").exists()  # reading a folder wrote no store

    from peft import PeftModel
    from safetensors.torch import load_file

    from workers.delta_loading import load_trained

    trained = load_trained(exact_trial / "delta.safetensors")
    backbone, tok = load_backbone(MINILM)
    exported = PeftModel.from_pretrained(backbone, str(out)).eval()
    head = torch.nn.Linear(384, 2)
    head.load_state_dict(load_file(str(out / "head.safetensors")))
    batch = tok(["a fine film", "not good at all"], padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = trained.logits(dict(batch))
        theirs = head(_mean(exported, dict(batch)))
    assert torch.allclose(ours, theirs, atol=1e-5)


def _mean(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return (hidden * mask).sum(1) / mask.sum(1)


def test_lra_is_refused_without_partial_and_leaves_nothing(
    lra_trial: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_store(monkeypatch, tmp_path)
    out = tmp_path / "adapter"
    result = CliRunner().invoke(app, ["export", str(lra_trial), str(out)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "lra" in lines[0] and "--format native" in lines[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left either


def test_partial_export_says_loudly_what_was_dropped_and_how_much_outputs_change(
    lra_trial: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_store(monkeypatch, tmp_path)
    out = tmp_path / "adapter"
    result = CliRunner().invoke(app, ["export", str(lra_trial), str(out), "--partial"])
    assert result.exit_code == 0, result.output
    assert "WARNING: PARTIAL EXPORT: 1 entries" in result.output
    assert "dropped encoder.layer.4.output:lra" in result.output
    assert "logits change by up to" in result.output
    card = (out / "README.md").read_text()
    assert "partial export" in card and "differ from the trained model's by up to" in card
    assert json.loads((out / "s3delta_unsupported.json").read_text()).keys() == {
        "encoder.layer.4.output:lra"
    }


def test_export_help_names_both_inputs_and_bad_inputs_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.runner.tracking import SweepTracker

    _no_store(monkeypatch, tmp_path)
    help_text = CliRunner().invoke(app, ["export", "--help"], terminal_width=200).output
    assert "run id" in help_text and "local" in help_text and "folder" in help_text
    uri = f"sqlite:///{tmp_path}/m.db"
    SweepTracker(uri, "s3delta", tmp_path / "art")
    for bad in ("0123456789abcdef0123456789abcdef", "trials/not_there"):
        result = CliRunner().invoke(app, ["export", bad, "out", "--tracking-uri", uri])
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert "Traceback" not in result.output and "MlflowException" not in result.output
    assert not (tmp_path / "out").exists()
