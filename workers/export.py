"""`s3delta export`: a trial's trained deltas as a folder that is complete or absent.

Why a module of its own: an export must never change a model's predictions silently.
So every PEFT export is loaded back (``PeftModel.from_pretrained`` on a fresh backbone,
plus the exported head) and run on a few fixed inputs next to the trained model; the
largest change in output is reported. A complete export that changes outputs by more
than `TOLERANCE` is an error (a bug, never shipped); a partial one (``partial=True``,
`s3delta export --partial`) reports what was dropped and the measured change, loudly.

The folder is written under a temporary name beside ``out_dir`` and renamed into place
at the end, so a failed export leaves nothing; ``README.md`` is a model card (what was
searched, on what backbone and task, at what budget, with what scores).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

TOLERANCE = 1e-4  # max |output change| of a complete export (float32 noise is ~1e-6)
PROBE_TEXTS = (
    "a gripping, funny and beautifully acted film.",
    "the plot is thin and the jokes fall flat.",
    "It was fine.",
    "The committee approved the proposal after a long debate.",
    "Is the museum open on Mondays?",
    "no one expected the results to be this close , but they were .",
    "The cat sat on the mat while the dog slept.",
    "Prices rose by 3% in the second quarter.",
)


class ExportError(ValueError):
    """An export that cannot be written as asked; the message says why and what to do."""


@dataclass
class ExportReport:
    """What an export wrote and how close its outputs are to the trained model's."""

    out_dir: Path
    format: str
    dropped: dict[str, str] = field(default_factory=dict)  # entry -> why PEFT cannot hold it
    dropped_params: int = 0
    max_change: float | None = None  # max |output difference| on the probe inputs
    mean_change: float | None = None
    n_inputs: int = 0
    output: str = ""  # what was compared: "logits" or "lm_logits"

    @property
    def exact(self) -> bool:
        return not self.dropped and (self.max_change is None or self.max_change <= TOLERANCE)


def _free_target(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty folder; choose a new folder")


def export_delta(
    delta_path: str | Path,
    out_dir: str | Path,
    fmt: Literal["peft", "native"] = "peft",
    partial: bool = False,
    card: Mapping[str, Any] | None = None,
) -> ExportReport:
    """Export ``delta_path`` (a trial's delta.safetensors) to ``out_dir``; see the module doc.

    ``card``: what the model card should say about the run (sweep, method, budget, scores).
    """
    from workers.delta_loading import export_trained

    out = Path(out_dir).absolute()
    _free_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        support = export_trained(delta_path, staging, fmt, partial)
        report = ExportReport(out, fmt)
        if fmt == "peft":
            _check_outputs(Path(delta_path), staging, report)
            if support is not None:
                report.dropped = dict(support.unsupported)
                sizes = {e.name: e.size for e in _structure(delta_path).entries}
                report.dropped_params = sum(sizes.get(n, 0) for n in report.dropped)
            if not report.dropped and not report.exact:
                raise ExportError(
                    f"the PEFT export changes outputs by up to {report.max_change:.3g} "
                    f"(tolerance {TOLERANCE:g}) although every entry was exported; this is a "
                    "bug: export with --format native and report it"
                )
        facts = {**_delta_facts(delta_path), **dict(card or {})}
        (staging / "README.md").write_text(model_card(_structure(delta_path), report, facts))
        if out.exists():
            out.rmdir()  # an empty folder we may replace
        os.replace(staging, out)
        return report
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _delta_facts(delta_path: str | Path) -> dict[str, Any]:
    """What the delta file itself records for the card (task, pooling)."""
    from search_space import read_delta

    _, _, meta = read_delta(delta_path)
    return {k: meta[k] for k in ("task", "pooling") if meta.get(k)}


def _structure(delta_path: str | Path) -> Any:
    from search_space import read_delta
    from search_space.weights import structure_of

    _, _, meta = read_delta(delta_path)
    structure = structure_of(meta)
    if structure is None:
        raise ExportError(f"{delta_path}: no structure in the metadata; not written by a trial")
    return structure


def _probe_batch(tokenizer: Any) -> dict[str, torch.Tensor]:
    batch = tokenizer(list(PROBE_TEXTS), padding=True, truncation=True, max_length=32)
    return {k: torch.tensor(v) for k, v in batch.items()}


def _outputs(
    model: Any, head: Any, batch: dict[str, torch.Tensor], seq2seq: bool, pooling: str
) -> torch.Tensor:
    """Logits on the probe batch: the task head over pooled states, or T5's LM logits."""
    with torch.no_grad():
        if seq2seq:
            start = torch.zeros((batch["input_ids"].shape[0], 1), dtype=torch.long)
            return model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                decoder_input_ids=start,
            ).logits.float()
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        if "token_type_ids" in batch:
            inputs["token_type_ids"] = batch["token_type_ids"]
        hidden = model(**inputs).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        if pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return (head(pooled) if head is not None else pooled).float()


def _check_outputs(delta_path: Path, folder: Path, report: ExportReport) -> None:
    """Load the export back and measure how far its outputs are from the trained model's."""
    from peft import PeftModel
    from safetensors.torch import load_file

    from search_space import load_backbone
    from search_space.backbone import is_seq2seq
    from workers.delta_loading import load_trained

    trained = load_trained(delta_path)
    structure = _structure(delta_path)
    backbone, tokenizer = load_backbone(structure.backbone)
    seq2seq = is_seq2seq(backbone.config)
    exported = PeftModel.from_pretrained(backbone, str(folder)).eval()
    head = None
    if not seq2seq and (folder / "head.safetensors").is_file():
        weights = load_file(str(folder / "head.safetensors"))
        head = torch.nn.Linear(weights["weight"].shape[1], weights["weight"].shape[0])
        head.load_state_dict(weights)
    batch = _probe_batch(tokenizer)
    ours = _outputs(trained.backbone, trained.head, batch, seq2seq, trained.pooling)
    theirs = _outputs(exported, head, batch, seq2seq, trained.pooling)
    change = (ours - theirs).abs()
    report.max_change = float(change.max())
    report.mean_change = float(change.mean())
    report.n_inputs = len(PROBE_TEXTS)
    report.output = "LM logits" if seq2seq else "logits"


def _fmt_score(value: Any) -> str:
    try:
        return f"{100 * float(value):.1f}"
    except (TypeError, ValueError):
        return "-"


def model_card(structure: Any, report: ExportReport, card: Mapping[str, Any] | None) -> str:
    """README.md for the exported folder."""
    info = dict(card or {})
    by_kind: dict[str, list[int]] = {}
    for e in structure.entries:
        by_kind.setdefault(e.kind, []).append(e.size)
    kinds = ", ".join(f"{k} x{len(v)} ({sum(v):,} params)" for k, v in sorted(by_kind.items()))
    fraction = 100 * structure.total_size / max(structure.backbone_params, 1)
    manual = structure.meta.get("manual")
    method = info.get("method") or (f"manual/{manual}" if manual else "s3delta")
    budget = info.get("budget") or (
        f"{structure.budget:,} parameters" if structure.budget else "none (a fixed structure)"
    )
    lines = [
        f"# {structure.backbone}: {info.get('task', 'task')} delta modules ({method})",
        "",
        "Delta modules for a frozen pretrained transformer, placed by "
        "s3delta (sparse structure search for delta tuning, Hu et al., NeurIPS 2022).",
        "",
        "| | |",
        "|---|---|",
        f"| backbone | `{structure.backbone}` ({structure.backbone_params:,} parameters) |",
        f"| task | {info.get('task', 'not recorded')} |",
        f"| method | {method} (search space {structure.space}) |",
        f"| budget | {budget} |",
        f"| structure | {len(structure.entries)} modules, {structure.total_size:,} trainable "
        f"parameters ({fraction:.4f}% of the backbone): {kinds} |",
    ]
    for label, key in (("dev score", "dev_score"), ("test score", "test_score")):
        if info.get(key) is not None:
            lines.append(
                f"| {label} | {_fmt_score(info[key])} (%, {info.get('metric', 'score')}) |"
            )
    if info.get("dev_score") is None and info.get("test_score") is None:
        lines.append("| scores | not recorded with this trial folder (see its MLflow run) |")
    for label, key in (("seed", "seed"), ("sweep", "sweep"), ("MLflow run", "run_id")):
        if info.get(key) is not None:
            lines.append(f"| {label} | {info[key]} |")
    lines += ["", "## Loading", ""]
    if report.format == "peft":
        lines += [
            "```python",
            "from peft import PeftModel",
            "from transformers import AutoModel",
            f'model = PeftModel.from_pretrained(AutoModel.from_pretrained("{structure.backbone}"), '
            '"<this folder>")',
            "```",
            "",
            "`head.safetensors` holds the task head (a Linear on pooled hidden states; "
            "`s3delta_task.json` names the task and the pooling).",
        ]
        if report.max_change is not None:
            lines.append(
                f"Checked on export: on {report.n_inputs} inputs the outputs ({report.output}) "
                f"differ from the trained model's by at most {report.max_change:.2g}."
            )
    else:
        lines += [
            "`delta.safetensors` + `structure.json`: load with "
            '`workers.delta_loading.load_trained("delta.safetensors")` from s3delta.',
        ]
    if report.dropped:
        lines += [
            "",
            "## WARNING: partial export",
            "",
            f"{len(report.dropped)} entries ({report.dropped_params:,} parameters) could not be "
            "expressed in PEFT and were left out (`s3delta_unsupported.json`). This model's "
            f"outputs differ from the trained model's by up to {report.max_change:.3g} "
            f"(mean {report.mean_change:.3g}) on {report.n_inputs} inputs.",
        ]
    return "\n".join(lines) + "\n"


def card_from_run(tags: Mapping[str, str], metrics: Mapping[str, float], run_id: str) -> dict:
    """Model-card facts from an MLflow trial run's tags and metrics."""
    card: dict[str, Any] = {"run_id": run_id}
    for name in ("sweep", "task", "method", "budget", "seed"):
        value = tags.get(f"s3delta.{name}")
        if value is not None:
            card[name] = value
    for name in ("dev_score", "test_score"):
        if name in metrics:
            card[name] = metrics[name]
    return card


def describe(report: ExportReport) -> list[str]:
    """Lines for the terminal: what was written, and loudly what was dropped."""
    lines = [f"wrote {report.out_dir} ({report.format})"]
    if report.max_change is not None and not report.dropped:
        lines.append(
            f"checked: on {report.n_inputs} inputs the exported model's {report.output} match "
            f"the trained model's (max difference {report.max_change:.2g})"
        )
    if report.dropped:
        lines.append(
            f"WARNING: PARTIAL EXPORT: {len(report.dropped)} entries "
            f"({report.dropped_params:,} parameters) were DROPPED; this model does not predict "
            "like the trained one:"
        )
        lines += [f"  dropped {name}: {why}" for name, why in report.dropped.items()]
        lines.append(
            f"  measured on {report.n_inputs} inputs: {report.output} change by up to "
            f"{report.max_change:.3g} (mean {report.mean_change:.3g}); "
            "use --format native for the exact model"
        )
    return lines
