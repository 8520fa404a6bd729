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

import json
import os
import shutil
import tempfile
import warnings
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
    kept: str = ""  # partial: what was kept and dropped (entries and parameters per kind)
    stored_params: int | None = None  # parameters in adapter_model.safetensors (peft)
    stored_extra: dict[str, int] = field(default_factory=dict)  # stored beyond trained, why

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
    from search_space.peft_export import kept_and_dropped
    from workers.delta_loading import export_trained

    out = Path(out_dir).absolute()
    _free_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        with warnings.catch_warnings():
            # PEFT asks transformers' deprecated is_gradient_checkpointing (harmless here)
            warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing")
            support = export_trained(delta_path, staging, fmt, partial)
            report = ExportReport(out, fmt)
            if fmt == "peft":
                _check_outputs(Path(delta_path), staging, report)
        if support is not None:
            structure = _structure(delta_path)
            report.dropped = dict(support.unsupported)
            sizes = {e.name: e.size for e in structure.entries}
            report.dropped_params = sum(sizes.get(n, 0) for n in report.dropped)
            if report.dropped:
                report.kept = kept_and_dropped(structure, support)
            report.stored_extra = dict(support.stored_extra)
            report.stored_params = _stored_params(staging / "adapter_model.safetensors")
        if fmt == "peft" and not report.dropped and not report.exact:
            raise ExportError(
                f"the PEFT export changes outputs by up to {report.max_change:.3g} "
                f"(tolerance {TOLERANCE:g}) although every entry was exported; this is a "
                "bug: export with --format native and report it"
            )
        facts = {**_delta_facts(delta_path), **dict(card or {}), "folder": str(out)}
        (staging / "README.md").write_text(model_card(_structure(delta_path), report, facts))
        if out.exists():
            out.rmdir()  # an empty folder we may replace
        os.replace(staging, out)
        return report
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _stored_params(path: Path) -> int | None:
    """How many parameters a safetensors file holds."""
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118


def _numel(shape: Any) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


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


def _score_name(task: str) -> str:
    """What a trial's score is on ``task``: its official metric, or their mean."""
    try:
        from workers.data import get_task

        metrics = get_task(task).metrics
    except Exception:  # an unknown or unrecorded task
        return "score"
    return metrics[0] if len(metrics) == 1 else "mean of " + ", ".join(metrics)


def _header(structure: Any, report: ExportReport, info: Mapping[str, Any], method: str) -> str:
    """The Hugging Face card's YAML metadata block."""
    import yaml

    task = str(info.get("task") or "")
    tags = ["s3delta", "delta-tuning", "parameter-efficient-fine-tuning"]
    tags += sorted({e.kind for e in structure.entries})
    tags += [t for t in (task.replace("/", "-"), method.replace("/", "-")) if t and t not in tags]
    if report.dropped:
        tags.append("partial-export")
    meta: dict[str, Any] = {
        "library_name": "peft" if report.format == "peft" else "s3delta",
        "base_model": structure.backbone,
        "tags": tags,
    }
    meta["pipeline_tag"] = (
        "text2text-generation" if _is_seq2seq(structure.backbone) else "text-classification"
    )
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n"


def _is_seq2seq(name: str) -> bool:
    """Whether the backbone is an encoder-decoder (T5), from its config alone."""
    from transformers import AutoConfig

    from search_space.backbone import is_seq2seq, resolve_model_path

    try:
        return is_seq2seq(AutoConfig.from_pretrained(resolve_model_path(name)))
    except OSError:  # no config here: the name is the best hint
        return "t5" in name.lower()


def _t5_example(task: str) -> str:
    """A T5 input as s3delta writes them: `"<task> <field>: <text> ..."`."""
    try:
        from workers.data import get_task

        fields = get_task(task).text_fields
    except Exception:  # an unknown or unrecorded task: SST-2's form
        task, fields = "glue/sst2", ("sentence",)
    texts = ("a gripping, funny film", "the film is funny")
    return f"{task.split('/')[-1]} " + " ".join(
        f"{name}: {texts[min(i, 1)]}" for i, name in enumerate(fields)
    )


def _local_base(name: str) -> str:
    """The backbone as a local folder when this machine has one (offline), else its name."""
    from search_space.backbone import resolve_model_path

    return resolve_model_path(name)


def _load_snippet(structure: Any, report: ExportReport, info: Mapping[str, Any]) -> list[str]:
    """A Python block that loads the export and predicts, offline with a local backbone."""
    base = _local_base(structure.backbone)
    folder = str(info.get("folder") or "<this folder>")
    where = (
        f"# {structure.backbone}: a local copy (works offline); the hub id works where "
        "the hub is reachable"
        if base != structure.backbone
        else "# a hub id (needs the hub, or its files in the cache) or a local folder"
    )
    seq2seq = report.output == "LM logits" or _is_seq2seq(structure.backbone)
    lines = [
        "```python",
        f"BASE = {json.dumps(base)}  {where}",
        f"FOLDER = {json.dumps(folder)}  # this folder",
    ]
    if report.format == "native":
        return [
            *lines,
            "",
            "from workers.delta_loading import load_trained  # s3delta, installed",
            "",
            'model = load_trained(f"{FOLDER}/delta.safetensors", BASE)  # backbone + deltas '
            "+ head, eval mode",
            'batch = model.tokenizer(["a gripping, funny film"], padding=True, '
            'return_tensors="pt")',
            "print(model.predict(dict(batch), model.tokenizer))  # class ids (T5: label texts)",
            "```",
        ]
    if seq2seq:
        return [
            *lines,
            "",
            "from peft import PeftModel",
            "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer",
            "",
            "tokenizer = AutoTokenizer.from_pretrained(BASE)",
            "model = PeftModel.from_pretrained(AutoModelForSeq2SeqLM.from_pretrained(BASE), "
            "FOLDER).eval()",
            f"batch = tokenizer([{json.dumps(_t5_example(str(info.get('task') or '')))}], "
            'return_tensors="pt")',
            "out = model.generate(",
            '    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], '
            "max_new_tokens=8",
            ")",
            "print(tokenizer.batch_decode(out, skip_special_tokens=True))",
            "```",
        ]
    pooling = str(info.get("pooling") or "mean")
    pool = (
        ["    pooled = hidden[:, 0]  # cls pooling (s3delta_task.json)"]
        if pooling == "cls"
        else [
            '    mask = batch["attention_mask"].unsqueeze(-1).float()',
            "    pooled = (hidden * mask).sum(1) / mask.sum(1)  # mean pooling (s3delta_task.json)",
        ]
    )
    return [
        *lines,
        "",
        "import torch",
        "from peft import PeftModel",
        "from safetensors.torch import load_file",
        "from transformers import AutoModel, AutoTokenizer",
        "",
        "tokenizer = AutoTokenizer.from_pretrained(BASE)",
        "model = PeftModel.from_pretrained(AutoModel.from_pretrained(BASE), FOLDER).eval()",
        'weights = load_file(f"{FOLDER}/head.safetensors")  # the task head',
        'head = torch.nn.Linear(weights["weight"].shape[1], weights["weight"].shape[0])',
        "head.load_state_dict(weights)",
        'batch = tokenizer(["a gripping, funny film"], padding=True, return_tensors="pt")',
        "with torch.no_grad():",
        "    hidden = model(**batch).last_hidden_state",
        *pool,
        "    logits = head(pooled)",
        "print(logits.argmax(-1).tolist())  # class ids",
        "```",
    ]


def _stored_lines(structure: Any, report: ExportReport) -> list[str]:
    """Why the adapter file holds more parameters than were trained, if it does."""
    if report.stored_params is None:
        return []
    trained = structure.total_size - report.dropped_params
    lines = [
        "",
        "## Trained and stored parameters",
        "",
        f"Trained: {trained:,} delta parameters"
        + (f" (of {structure.total_size:,}; the rest were dropped)" if report.dropped else "")
        + f". Stored in `adapter_model.safetensors`: {report.stored_params:,}.",
    ]
    if report.stored_extra:
        lines += [
            "PEFT's format needs more room than the structure: the difference is exact "
            "padding, not extra training:",
            "",
        ]
        lines += [f"- {n:,}: {why}" for why, n in report.stored_extra.items()]
        accounted = trained + sum(report.stored_extra.values())
        if accounted != report.stored_params:
            lines.append(f"- {report.stored_params - accounted:,}: other PEFT bookkeeping")
    lines.append("")
    lines.append(
        "The task head (`head.safetensors`) is trained too and stored apart from the adapter."
    )
    return lines


def model_card(structure: Any, report: ExportReport, card: Mapping[str, Any] | None) -> str:
    """README.md for the exported folder: a Hugging Face model card (YAML header, text)."""
    info = dict(card or {})
    by_kind: dict[str, list[int]] = {}
    for e in structure.entries:
        by_kind.setdefault(e.kind, []).append(e.size)
    kinds = ", ".join(f"{k} x{len(v)} ({sum(v):,} params)" for k, v in sorted(by_kind.items()))
    fraction = 100 * structure.total_size / max(structure.backbone_params, 1)
    manual = structure.meta.get("manual")
    method = str(info.get("method") or (f"manual/{manual}" if manual else "s3delta"))
    budget = info.get("budget") or (
        f"{structure.budget:,} parameters" if structure.budget else "none (a fixed structure)"
    )
    lines = [
        _header(structure, report, info, method),
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
    metric = info.get("metric") or _score_name(str(info.get("task") or ""))
    for label, key in (("dev score", "dev_score"), ("test score", "test_score")):
        if info.get(key) is not None:
            lines.append(f"| {label} | {_fmt_score(info[key])} (%, {metric}) |")
    if info.get("dev_score") is None and info.get("test_score") is None:
        lines.append("| scores | not recorded with this trial folder (see its MLflow run) |")
    for label, key in (("seed", "seed"), ("sweep", "sweep"), ("MLflow run", "run_id")):
        if info.get(key) is not None:
            lines.append(f"| {label} | {info[key]} |")
    lines += ["", "## Loading", ""]
    if report.format == "peft":
        lines += [
            "A PEFT LoRA adapter (`adapter_config.json`, `adapter_model.safetensors`) and the "
            "task head (`head.safetensors`, a Linear on pooled hidden states; "
            "`s3delta_task.json` names the task and the pooling). Offline, point `BASE` at a "
            "local copy of the backbone; if this folder moves, change `FOLDER`:",
            "",
            *_load_snippet(structure, report, info),
        ]
        if report.max_change is not None:
            lines.append(
                f"\nChecked on export: on {report.n_inputs} inputs the outputs ({report.output}) "
                f"differ from the trained model's by at most {report.max_change:.2g}."
            )
    else:
        lines += [
            "s3delta's own format, exact for every structure: `delta.safetensors` (the deltas, "
            "the task head, the structure and a fingerprint of the backbone it was trained on) "
            "and `structure.json` (the same structure, readable). Load it with s3delta "
            "(`workers.delta_loading.load_trained`), which checks the backbone and every "
            "tensor's shape. Offline, point `BASE` at a local copy of the backbone; if this "
            "folder moves, change `FOLDER`:",
            "",
            *_load_snippet(structure, report, info),
        ]
    if report.dropped:
        lines += [
            "",
            "## WARNING: partial export",
            "",
            f"{len(report.dropped)} entries ({report.dropped_params:,} parameters) could not be "
            "expressed in PEFT and were left out (`s3delta_unsupported.json`). This export "
            f"{report.kept}. This model's "
            f"outputs differ from the trained model's by up to {report.max_change:.3g} "
            f"(mean {report.mean_change:.3g}) on {report.n_inputs} inputs. "
            "`s3delta export RUN DIR --format native` writes the exact model.",
        ]
    lines += _stored_lines(structure, report)
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
            "like the trained one. This export " + report.kept + ":"
        )
        lines += [f"  dropped {name}: {why}" for name, why in report.dropped.items()]
        lines.append(
            f"  measured on {report.n_inputs} inputs: {report.output} change by up to "
            f"{report.max_change:.3g} (mean {report.mean_change:.3g}); "
            "use --format native for the exact model"
        )
    return lines
