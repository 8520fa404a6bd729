"""Fixed-seed trials recorded bit for bit, to show a refactor left behaviour unchanged (issue 11).

Runs a small set of short trials in-process through the worker API the CLI's
``s3delta trial`` uses (`workers.trial.run_trial` on a `TrialConfig`) and saves, per
trial: the structure (entries, sizes), the final gate probabilities, the expected-size
trajectory, every dev/search/test metric as exact floats (``float.hex``), the parameter
counts and a SHA-256 of every trained delta/head tensor. Timings and paths are left out.

Trials: SST-2 on all-MiniLM-L6-v2 (s3delta first and second order, random in spaces M
and L, each manual baseline, adapter at width 8, finetune) and RTE on a tiny random T5
(s3delta, random, adapter, LNFit on RMSNorm). About 4 minutes on one core.

Usage (from the repository root, with the project's venv):

    # the reference, on the commit before the refactor (a git worktree, nothing installed)
    git worktree add --detach /tmp/base11 51e5ca5
    nice -n 10 python benchmarks/refactor_identity.py --code /tmp/base11 --label 51e5ca5 \
        --out benchmarks/results/refactor_identity_before.json
    # the current tree
    nice -n 10 python benchmarks/refactor_identity.py \
        --out benchmarks/results/refactor_identity_after.json
    # equal/different per trial; exit status 1 on any difference
    python benchmarks/refactor_identity.py --compare \
        benchmarks/results/refactor_identity_before.json \
        benchmarks/results/refactor_identity_after.json

``--code ROOT`` re-runs this script with ``PYTHONPATH=ROOT`` and checks that the
project's modules really came from there (the run records each module's file).
``--only NAME ...`` runs a subset (names as in TRIALS). Any change to a trial's
structure, sizes, scores or trained weights shows up as a difference. Structures are
compared as the current code reads them (each entry's kind options resolved through the
delta registry, so a file written before issue 11, with ``rank`` and ``width`` on every
entry, reads as the same structure as one written after); a change in the structure
file's JSON text alone is reported next to "equal", and fails only with
``--strict-format``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DATA = REPO.parent / "shared" / "data"
T5_DIR = Path(tempfile.gettempdir()) / "s3delta-identity-tiny-t5"

SHORT = dict(  # a few seconds per phase on one core
    task="glue/sst2",
    budget="0.01%",
    seed=1,
    max_train_examples=160,
    max_eval_examples=64,
    max_length=32,
    batch_size=8,
    eval_batch_size=32,
    search_steps=12,
    retrain_steps=12,
    eval_every=6,
    num_threads=1,
    delta_lr=5e-3,
)
T5 = dict(SHORT, task="glue/rte", budget="0.2%", max_length=48, model="<tiny-t5>")
TRIALS: dict[str, dict[str, Any]] = {
    "minilm-s3delta": {**SHORT, "method": "s3delta"},
    "minilm-s3delta-order2": {
        **SHORT,
        "method": "s3delta",
        "darts_order": 2,
        "search_steps": 6,
        "kind_lr": {"lora": 2.0, "lnfit": 0.5},
        "search_fittable_only": True,
    },
    "minilm-random": {**SHORT, "method": "random", "budget": "0.05%"},
    "minilm-random-L": {**SHORT, "method": "random", "space": "L"},
    "minilm-manual-adapter": {**SHORT, "method": "manual/adapter"},
    "minilm-manual-adapter-w8": {**SHORT, "method": "manual/adapter", "adapter_width": 8},
    "minilm-manual-lora-qv-r1": {**SHORT, "method": "manual/lora-qv-r1"},
    "minilm-manual-lora-qv-r8": {**SHORT, "method": "manual/lora-qv-r8"},
    "minilm-manual-bitfit": {**SHORT, "method": "manual/bitfit"},
    "minilm-manual-lnfit": {**SHORT, "method": "manual/lnfit"},
    "minilm-manual-lra-all": {**SHORT, "method": "manual/lra-all"},
    "minilm-finetune": {**SHORT, "method": "finetune", "retrain_steps": 6},
    "t5-s3delta": {**T5, "method": "s3delta"},
    "t5-random": {**T5, "method": "random"},
    "t5-manual-adapter": {**T5, "method": "manual/adapter"},
    "t5-manual-lnfit": {**T5, "method": "manual/lnfit"},
}
RESULT_FIELDS = (  # compared bit for bit (floats as hex)
    "structure",
    "probabilities",
    "expected_size_trajectory",
    "search_dev",
    "search_diagnostics",
    "dev",
    "test",
    "dev_score",
    "test_score",
    "delta_params",
    "head_params",
    "backbone_params",
    "budget_params",
    "split_sizes",
)
MODULES = ("search_space", "workers", "orchestrator")


def _exact(value: Any) -> Any:
    """JSON with every float written as its exact hex form (and ints/strings as they are)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _exact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_exact(v) for v in value]
    return repr(value)


def _tensor_hashes(path: Path) -> dict[str, str]:
    from safetensors.torch import load_file

    return {
        name: hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:24]
        for name, t in sorted(load_file(str(path)).items())
    }


def _t5_backbone() -> str:
    """A tiny random T5 built once (seeded) by the tests' own builder."""
    if not (T5_DIR / "config.json").is_file():
        if str(REPO) not in sys.path:  # appended: the project's modules keep their root
            sys.path.append(str(REPO))
        from tests.conftest import build_tiny_t5

        T5_DIR.mkdir(parents=True, exist_ok=True)
        build_tiny_t5(T5_DIR)
    return str(T5_DIR)


def _weights_hash(model_dir: str) -> str:
    from safetensors.torch import load_file

    files = sorted(Path(model_dir).glob("*.safetensors"))
    digest = hashlib.sha256()
    for f in files:
        for name, t in sorted(load_file(str(f)).items()):
            digest.update(name.encode() + t.contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def _run_one(name: str, config: dict[str, Any]) -> dict[str, Any]:
    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    config = dict(config, data_dir=str(DATA))
    record: dict[str, Any] = {}
    if config.get("model") == "<tiny-t5>":
        config["model"] = _t5_backbone()
        record["backbone_weights_sha256"] = _weights_hash(config["model"])
    with tempfile.TemporaryDirectory(prefix="s3delta-identity-") as out:
        config["output_dir"] = out
        started = time.perf_counter()
        result = run_trial(TrialConfig(**config))
        data = asdict(result) if is_dataclass(result) else dict(result)  # type: ignore[arg-type]
        record["fields"] = {k: _exact(data.get(k)) for k in RESULT_FIELDS}
        delta = Path(out) / "delta.safetensors"
        record["tensors"] = _tensor_hashes(delta) if delta.is_file() else None
        structure = Path(out) / "structure.json"
        record["structure_file"] = structure.read_text() if structure.is_file() else None
        record["seconds"] = round(time.perf_counter() - started, 1)
    config["output_dir"] = "<tmp>"
    if config.get("model") == str(T5_DIR):
        config["model"] = "<tiny-t5>"
    record["config"] = config
    return record


def record(names: list[str], out: Path, label: str | None = None) -> None:
    """Run ``names`` in this process, saving after each trial (a partial file resumes)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import importlib

    code = {m: str(Path(importlib.import_module(m).__file__ or "").parent) for m in MODULES}
    print("modules from:", json.dumps(code), flush=True)
    expected = os.environ.get("S3DELTA_IDENTITY_ROOT")
    if expected and any(Path(p).parent != Path(expected).resolve() for p in code.values()):
        raise SystemExit(f"modules did not come from {expected}: {code}")
    saved = json.loads(out.read_text()) if out.is_file() else {}
    if saved.get("code") not in (None, code):
        saved = {}  # another code root: start over
    saved["code"] = code
    if label:
        saved["label"] = label  # e.g. the commit the code root holds
    saved.setdefault("trials", {})
    for name in names:
        if name in saved["trials"]:
            print(f"{name}: already recorded", flush=True)
            continue
        rec = _run_one(name, TRIALS[name])
        saved["trials"][name] = rec
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {rec['seconds']}s dev={rec['fields']['dev_score']}", flush=True)


def _via(code_root: Path, args: list[str]) -> int:
    """Run this script again with ``PYTHONPATH=code_root``; check where modules came from."""
    from code_root import rerun_with_code_root  # a sibling script: only when run as one

    return rerun_with_code_root(__file__, code_root, args, "S3DELTA_IDENTITY_ROOT")


def _canonical(structure: Any) -> Any:
    """A structure as the current code reads it: entries with their kinds' resolved options."""
    if not isinstance(structure, dict):
        return structure
    from search_space.deltas import find_kind
    from search_space.structure import Structure

    read = Structure.from_dict(structure)
    entries = []
    for e in read.entries:
        kind = find_kind(e.kind)
        options = kind.load_options(e.options).values() if kind else dict(e.options)
        entries.append([e.path, e.kind, e.size, options, e.layer, e.role, e.stack])
    data = read.to_dict()
    data["entries"] = entries
    return data


def compare(before: Path, after: Path, strict_format: bool) -> int:
    """Print equal/different per trial; 1 if any trial differs (or is missing), else 0."""
    a = json.loads(before.read_text())["trials"]
    b = json.loads(after.read_text())["trials"]
    for side in (a, b):
        for rec in side.values():
            rec["fields"]["structure"] = _canonical(rec["fields"]["structure"])
    bad = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"{name}: MISSING in {'before' if name not in a else 'after'}")
            bad += 1
            continue
        diffs = [
            key
            for key in ("config", "backbone_weights_sha256", "tensors")
            if a[name].get(key) != b[name].get(key)
        ]
        diffs += [k for k in RESULT_FIELDS if a[name]["fields"].get(k) != b[name]["fields"].get(k)]
        fmt = a[name].get("structure_file") != b[name].get("structure_file")
        if diffs or (fmt and strict_format):
            bad += 1
            print(f"{name}: DIFFERENT ({', '.join(diffs + (['structure_file'] if fmt else []))})")
        else:
            print(f"{name}: equal" + (" (structure file text differs)" if fmt else ""))
    print("all equal" if not bad else f"{bad} trial(s) differ")
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "refactor_identity_after.json")
    parser.add_argument("--code", type=Path, help="project root to import from (PYTHONPATH)")
    parser.add_argument("--only", nargs="+", choices=list(TRIALS), default=list(TRIALS))
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--strict-format", action="store_true")
    parser.add_argument("--label", help="saved with the results, e.g. the commit under test")
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare, strict_format=args.strict_format))
    if args.code is not None:
        label = ["--label", args.label] if args.label else []
        sys.exit(_via(args.code, ["--out", str(args.out.resolve()), *label, "--only", *args.only]))
    record(args.only, args.out, args.label)


if __name__ == "__main__":
    main()
