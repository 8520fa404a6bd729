"""Load and export a ``random-mask`` trial: its trained weights written into the backbone.

A random-mask trial has no delta modules, so its native form is the backbone itself
with the masked elements set to their trained values: `export_masked` writes it with
``save_pretrained`` (plus the tokenizer, the task head and a model card), and plain
``transformers.AutoModel.from_pretrained(folder)`` loads it anywhere; `load_masked`
rebuilds the scoring model (backbone, pooling, head) from the trial's small file or
from such a folder. Nothing here needs PEFT: the weights are the model's own.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from search_space import load_backbone, read_delta
from search_space.backbone import is_seq2seq
from search_space.random_mask import apply_mask_tensors, changed_count
from search_space.weights import check_backbone
from workers.data import get_task
from workers.export import ExportError, ExportReport
from workers.task_model import TaskModel

MASK_FILE = "random_mask.safetensors"
HEAD_FILE = "head.safetensors"
INFO_FILE = "s3delta_task.json"  # task, pooling and the mask's identity, beside the weights


def load_masked(path: str | Path, model_name: str | None = None) -> TaskModel:
    """The trained scoring model, in eval mode, from a trial's ``random_mask.safetensors``
    or from a folder `export_masked` wrote."""
    path = Path(path)
    if path.is_dir():
        info = json.loads((path / INFO_FILE).read_text())
        backbone, tokenizer = load_backbone(str(path))
        head = load_file(str(path / HEAD_FILE)) if (path / HEAD_FILE).is_file() else {}
    else:
        tensors, head, info = read_delta(path)
        backbone, tokenizer = load_backbone(model_name or info["model"])
        check_backbone(path, info, backbone)  # the mask's indices are for this backbone
        apply_mask_tensors(backbone, tensors)
    model = TaskModel(
        backbone, get_task(info["task"]), is_seq2seq(backbone.config), info.get("pooling", "mean")
    )
    if model.head is not None and head:
        model.head.load_state_dict(head)
    model.tokenizer = tokenizer  # type: ignore[assignment]
    return model.eval()


def export_masked(
    mask_path: str | Path, out_dir: str | Path, card: Mapping[str, Any] | None = None
) -> ExportReport:
    """Write ``out_dir``: the backbone with the trained values (``save_pretrained``), its
    tokenizer, ``head.safetensors``, ``s3delta_task.json`` and a model card. The folder is
    complete or absent."""
    out = Path(out_dir).absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty folder; choose a new folder")
    tensors, head, info = read_delta(mask_path)
    if info.get("method") != "random-mask":
        raise ExportError(f"{mask_path}: not a random-mask file; give a random-mask trial's")
    backbone, tokenizer = load_backbone(info["model"])
    check_backbone(Path(mask_path), info, backbone)
    pretrained, _ = load_backbone(info["model"])
    apply_mask_tensors(backbone, tensors)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        backbone.save_pretrained(staging)  # type: ignore[operator]
        tokenizer.save_pretrained(staging)
        if head:
            save_file({k: v.contiguous() for k, v in head.items()}, str(staging / HEAD_FILE))
        keep = ("task", "pooling", "model", "seed", "count", "pool_size", "mask_sha256")
        facts = {k: info[k] for k in keep if k in info}
        (staging / INFO_FILE).write_text(json.dumps(facts, indent=1))
        report = ExportReport(out, "native")
        changed = changed_count(backbone, pretrained)
        (staging / "README.md").write_text(_card(facts, changed, card or {}, out))
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
        return report
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _card(info: Mapping[str, Any], changed: int, run: Mapping[str, Any], folder: Path) -> str:
    """A Hugging Face model card: YAML header, what was trained, how to load it offline."""
    base = str(info.get("model", ""))
    score = run.get("test_score")
    lines = [
        "---",
        "library_name: transformers",
        f"base_model: {base}",
        "tags: [s3delta, random-mask, parameter-efficient-fine-tuning]",
        "---",
        "",
        f"# random-mask on {info.get('task')}",
        "",
        f"{int(info.get('count', 0)):,} randomly chosen weights of `{base}` (seed "
        f"{info.get('seed')}, mask SHA-256 `{info.get('mask_sha256', '')[:16]}...`), trained "
        "in place; every other weight is the pretrained one. This folder is the whole "
        "backbone with the trained values written in, so it stores every parameter while "
        f"only {int(info.get('count', 0)):,} were trained ({changed:,} of them moved "
        "from their pretrained value; an element whose gradient stayed 0 keeps it).",
        "",
    ]
    if score is not None:
        lines += [f"Test score: {100 * float(score):.2f}.", ""]
    lines += [
        "Load it (offline; the folder holds the weights, the tokenizer and the head):",
        "",
        "```python",
        "from transformers import AutoModel, AutoTokenizer",
        f'backbone = AutoModel.from_pretrained("{folder}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{folder}")',
        "# the task's scoring model (mean pooling + the trained head), with s3delta installed:",
        "from workers.mask_export import load_masked",
        f'model = load_masked("{folder}")',
        "```",
        "",
    ]
    return "\n".join(lines)
