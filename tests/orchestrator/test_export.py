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


# LNFit + BitFit on LayerNorms and an LRA: nothing PEFT's LoRA could target before
NORMS_AND_LRA = (
    ("encoder.layer.5.output.LayerNorm", "lnfit", 1),
    ("encoder.layer.2.attention.output.LayerNorm", "bitfit", 1),
    ("encoder.layer.4.output", "lra", 1),
)


def _snippet(card: str) -> str:
    start = card.index("```python\n") + len("```python\n")
    return card[start : card.index("```", start)]


def _front_matter(card: str) -> dict:
    import yaml

    assert card.startswith("---\n")
    return yaml.safe_load(card[4 : card.index("\n---\n", 4)])


def _run_snippet(card: str, tmp_path: Path) -> str:
    """Run the card's Python block in a fresh, offline interpreter; its stdout."""
    import os
    import subprocess
    import sys

    script = tmp_path / "load.py"
    script.write_text(_snippet(card))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_partial_keeps_layernorms_alone_and_says_what_it_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only LayerNorm entries are expressible: the refusal names what --partial keeps, and
    --partial then exports them (a zero rank-1 LoRA carries the saved norms)."""
    _no_store(monkeypatch, tmp_path)
    trial = tmp_path / "trial"
    trial.mkdir()
    _write_delta(trial, NORMS_AND_LRA)
    refused = CliRunner().invoke(app, ["export", str(trial), str(tmp_path / "a")])
    assert refused.exit_code == 1
    assert "--partial" in refused.output and "keeps 2 of 3 entries" in refused.output
    assert "lnfit x1 (384)" in refused.output and "drops 1" in refused.output
    out = tmp_path / "b"
    result = CliRunner().invoke(app, ["export", str(trial), str(out), "--partial"])
    assert result.exit_code == 0, result.output
    assert "no LoRA or Linear BitFit" not in result.output
    assert "This export keeps 2 of 3 entries (768 of" in result.output
    card = (out / "README.md").read_text()
    assert "keeps 2 of 3 entries" in card and "partial-export" in _front_matter(card)["tags"]
    assert "that PEFT needs to save LayerNorms" in card


def test_a_structure_peft_cannot_hold_at_all_is_sent_to_native_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_store(monkeypatch, tmp_path)
    trial = tmp_path / "trial"
    trial.mkdir()
    _write_delta(trial, (("encoder.layer.4.output", "lra", 1),))
    for extra in ([], ["--partial"]):
        result = CliRunner().invoke(app, ["export", str(trial), str(tmp_path / "a"), *extra])
        assert result.exit_code == 1
        assert "none of the 1 entries" in result.output and "--format native" in result.output
        assert "--partial" not in result.output
    native = CliRunner().invoke(
        app, ["export", str(trial), str(tmp_path / "n"), "--format", "native"]
    )
    assert native.exit_code == 0, native.output
    card = (tmp_path / "n" / "README.md").read_text()
    assert _front_matter(card)["library_name"] == "s3delta"
    ours = json.loads(_run_snippet(card, tmp_path).strip().splitlines()[-1])
    assert ours in ([0], [1])


def test_model_card_has_a_hub_header_an_offline_snippet_and_counts_stored_parameters(
    exact_trial: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors import safe_open

    from workers.delta_loading import load_trained

    _no_store(monkeypatch, tmp_path)
    out = tmp_path / "adapter"
    assert CliRunner().invoke(app, ["export", str(exact_trial), str(out)]).exit_code == 0
    card = (out / "README.md").read_text()
    header = _front_matter(card)
    assert header["library_name"] == "peft" and header["base_model"] == MINILM
    assert {"s3delta", "lora", "bitfit", "lnfit", "glue-sst2"} <= set(header["tags"])
    # the snippet names a local copy of the backbone and runs with no hub
    assert f"BASE = {json.dumps(MINILM)}" not in card
    printed = json.loads(_run_snippet(card, tmp_path).strip().splitlines()[-1])
    trained = load_trained(exact_trial / "delta.safetensors")
    batch = trained.tokenizer(["a gripping, funny film"], padding=True, return_tensors="pt")
    assert printed == trained.predict(dict(batch))
    # stored = trained + each listed reason, and that is what the file holds
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        stored = sum(_numel(f, k) for k in f.keys())  # noqa: SIM118
    trained_size = sum(
        e["size"] for e in json.loads((out / "s3delta_structure.json").read_text())["entries"]
    )
    assert f"Trained: {trained_size:,} delta parameters" in card
    assert f"Stored in `adapter_model.safetensors`: {stored:,}" in card
    listed = [line for line in card.splitlines() if line.startswith("- ") and ": " in line]
    extra = sum(int(line[2:].split(":")[0].replace(",", "")) for line in listed)
    assert trained_size + extra == stored


def _numel(handle, key: str) -> int:  # type: ignore[no-untyped-def]
    n = 1
    for d in handle.get_slice(key).get_shape():
        n *= int(d)
    return n


@pytest.mark.heavy
def test_a_real_trial_exports_and_both_card_snippets_load_it_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A searched s3delta structure (real MiniLM, real SST-2, a few steps): native always,
    PEFT (with --partial when PEFT cannot hold all of it); each card's snippet, run in a
    fresh offline interpreter, predicts what the trained model predicts."""
    from tests.conftest import SHARED_DATA
    from workers.delta_loading import load_trained

    _no_store(monkeypatch, tmp_path)
    trial = tmp_path / "trial"
    ran = CliRunner().invoke(
        app,
        [
            "trial",
            "--data-dir",
            str(SHARED_DATA),
            "--steps",
            "4",
            "--out",
            str(trial),
            "--max-train-examples",
            "32",
            "--max-eval-examples",
            "16",
            "--json",
        ],
    )
    assert ran.exit_code == 0, ran.output
    trained = load_trained(trial / "delta.safetensors")
    batch = trained.tokenizer(["a gripping, funny film"], padding=True, return_tensors="pt")
    expected = trained.predict(dict(batch))
    native = tmp_path / "native"
    made = CliRunner().invoke(app, ["export", str(trial), str(native), "--format", "native"])
    assert made.exit_code == 0, made.output
    card = (native / "README.md").read_text()
    assert json.loads(_run_snippet(card, tmp_path).strip().splitlines()[-1]) == expected
    peft = tmp_path / "peft"
    made = CliRunner().invoke(app, ["export", str(trial), str(peft)])
    if made.exit_code != 0:  # LRA or adapters: refused, saying what --partial keeps
        assert "--format native" in made.output and "keeps" in made.output, made.output
        made = CliRunner().invoke(app, ["export", str(trial), str(peft), "--partial"])
    assert made.exit_code == 0, made.output
    card = (peft / "README.md").read_text()
    printed = json.loads(_run_snippet(card, tmp_path).strip().splitlines()[-1])
    if "partial export" not in card:
        assert printed == expected


def test_t5_exports_with_a_text2text_card_whose_snippet_generates_offline(
    tiny_t5_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encoder-decoder: LoRA on both stacks exports exactly; the card says
    text2text-generation and its snippet loads AutoModelForSeq2SeqLM and generates."""
    from search_space.positions import entry_at

    _no_store(monkeypatch, tmp_path)
    model, _ = load_backbone(str(tiny_t5_dir))
    sites = {s.path: s for s in find_sites(model)}
    entries = tuple(
        entry_at(sites[path], "lora", {"rank": 2})
        for path in (
            "encoder.block.0.layer.0.SelfAttention.q",
            "decoder.block.1.layer.0.SelfAttention.v",
        )
    )
    params = sum(p.numel() for p in model.parameters())
    structure = Structure(entries, str(tiny_t5_dir), params, budget=None, space="M")
    deltas = apply_structure(model, structure, lora_scale=1.0)
    torch.manual_seed(0)
    for p in deltas.parameters():
        p.data.normal_(0.0, 0.05)
    trial = tmp_path / "trial"
    save_delta(
        trial / "delta.safetensors",
        deltas.named_tensors(),
        structure,
        backbone_fingerprint(model),
        {},
        extra={"task": "glue/rte", "pooling": "mean", "lora_scale": "1.0"},
    )
    out = tmp_path / "adapter"
    made = CliRunner().invoke(app, ["export", str(trial), str(out)])
    assert made.exit_code == 0, made.output
    assert "LM logits match" in made.output
    card = (out / "README.md").read_text()
    assert _front_matter(card)["pipeline_tag"] == "text2text-generation"
    assert "rte sentence1: " in card and "AutoModelForSeq2SeqLM" in card
    printed = _run_snippet(card, tmp_path).strip().splitlines()[-1]
    assert printed.startswith("[") and printed.endswith("]")  # one generated text
