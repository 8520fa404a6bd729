"""The MLflow layout a quickstart sweep writes, recorded so two commits can be compared (issue 21).

Runs ``examples/quickstart.yaml`` (SST-2 on all-MiniLM-L6-v2, s3delta and random at
0.01%, 2 Optuna tuning trials and 2 seeds per cell) through the CLI of a code root
(``s3delta run`` as ``python -c 'from orchestrator.cli import main; main()' run``), with
an embedded MLflow SQLite store and Optuna storage in a temporary folder, then dumps what
the store holds with ``MlflowClient``:

* experiments by name (lifecycle stage, tags, artifact location);
* every run under a stable key: the ``s3delta.key`` tag (trials), else the run's kind
  with its identifying tags (``cell|<sweep>|<task>|<method>|<budget>``,
  ``sweep|<sweep>``), else kind and run name with ids stripped;
* per run: status, lifecycle stage, run name (ids stripped), parent (as the parent's
  key), params with their values, metrics with their logged steps and values, tags with
  their values, and the names of its artifacts.

Masked (replaced by a placeholder, so that they do not count as differences):

* run tags ``mlflow.*`` (MLflow's own: user, source, git commit, log-model history;
  ``mlflow.runName`` is the run name, ``mlflow.parentRunId`` becomes ``parent``);
* the tag ``s3delta.git_commit`` (``<commit>``), and tags whose name says host, pid,
  user, lease, token, address or port (``s3delta.ray_address``: the embedded Ray's
  port), time or date (``*_at``, ``*_time``), ``<masked>``;
* inside every param, tag and experiment value: the temporary folder (``<tmp>``), the
  code root (``<code>``), this repository (``<repo>``), other folders under /tmp
  (``<tmpdir>``), 32-hex run ids (``<run-id>``) and ISO times (``<time>``); the
  experiment id in its artifact location (``<exp-id>``);
* metric values (the key and its steps stay) of times, durations, CPU/GPU/wall seconds,
  costs, throughput and memory: names matching ``METRIC_MASK`` (``wall_time_s``,
  ``time_<bucket>_s``, ``cost_*`` and ``cost/*`` incl. ``cost_share_*`` and
  ``cost_peak_rss_mb``, ``*_seconds``, ``*peak*``, ``*memory*``, ``*_mb``, ``*per_s*``,
  ``*throughput*``, ``*cpu_s*``, ...), except the counts and scores among them
  (``*n_trials``, ``*gain_points``);
* the earlier values of a step logged more than once: the summaries on cell and sweep
  runs are logged at step 0 after each cell ends and again at the end, and what the
  first loggings say depends on which trials had ended by then (e.g. ``cost/total/
  n_trials`` after the first cell counts the other cell's trials ended so far).
  ``steps`` keeps one entry per logging; ``values`` holds the last value of each
  distinct step.

Everything else, scores included, is kept: with fixed seeds and one thread per trial the
scores repeat. ``--compare A B`` prints per experiment and per run ``equal`` or what
differs (runs only in A or only in B; params, metrics, tags, artifacts added, removed,
changed; metric steps changed) and exits 1 on any difference except a float that differs
only in its last digits (relative difference below 1e-9), which is listed separately.

Usage (from the repository root, with the project's venv; a few minutes per sweep):

    git worktree add --detach /tmp/base_layout 93cead8
    nice -n 10 python benchmarks/mlflow_layout_identity.py --code /tmp/base_layout \
        --label 93cead8 --out benchmarks/results/mlflow_layout_before.json
    nice -n 10 python benchmarks/mlflow_layout_identity.py \
        --out benchmarks/results/mlflow_layout_now.json
    python benchmarks/mlflow_layout_identity.py --compare \
        benchmarks/results/mlflow_layout_before.json benchmarks/results/mlflow_layout_now.json

Issue 21's check (93cead8 before the refactor, f5b6eb6 its end, and main) with its
causes is in benchmarks/results/mlflow_layout_identity.txt.

``--delta-lr X`` is a control for a change in what the Optuna sampler draws: the sweep's
one tuned setting becomes ``{distribution: categorical, values: [X, X]}``, still tuned
(each cell keeps its 2 tuning trials, the same runs) but drawn as X whatever the sampler
does, so every trial's settings are the same at both commits and every score must match.

``--code ROOT`` re-runs this script with ``PYTHONPATH=ROOT`` and checks that the
project's modules came from there (and that the sweep run's ``s3delta.git_commit`` tag
names ROOT's commit). ``--keep DIR`` runs the sweep in DIR (emptied first) and keeps
it; ``--from-store sqlite:///DIR/mlflow.db --tmp DIR [--code ROOT]`` dumps such a store
again without running anything.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DATA = REPO.parent / "shared" / "data"
MODULES = ("search_space", "workers", "orchestrator")

TAG_MASK = re.compile(
    r"(host|(^|[._])pid|user|lease|token|address|port|(_at|_time|[._]date)$)", re.I
)
METRIC_MASK = re.compile(
    r"(wall|(^|[/_])time|seconds|duration|elapsed|(^|[/_])cost|cpu_s|gpu_s|peak|memory"
    r"|(^|[/_])mem|rss|_mb$|_gb$|bytes|per_s|per_sec|throughput|speed|steps_per)",
    re.I,
)
METRIC_KEEP = re.compile(r"(n_trials|gain_points)$")  # counts and scores under cost/
RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
OTHER_TMP = re.compile(r"/tmp/[^/\s\"',;]+")
MASKED = "<masked>"
NOISE = 1e-9  # relative difference of two floats read as "last digits"


# -- running the sweep ----------------------------------------------------------------
def _code_root() -> Path:
    import importlib

    code = {m: Path(importlib.import_module(m).__file__ or "").parent for m in MODULES}
    roots = {p.parent for p in code.values()}
    expected = os.environ.get("S3DELTA_LAYOUT_ROOT")
    if expected and roots != {Path(expected).resolve()}:
        raise SystemExit(f"modules did not come from {expected}: {code}")
    if len(roots) != 1:
        raise SystemExit(f"modules from several roots: {code}")
    root = roots.pop()
    print("modules from:", root, flush=True)
    return root


def _sweep_file(root: Path, tmp: Path, delta_lr: float | None = None) -> Path:
    """ROOT's quickstart.yaml with its data_dir made absolute (the worktree is elsewhere);
    with ``delta_lr`` its one tuned setting can only take that value."""
    text = (root / "examples" / "quickstart.yaml").read_text()
    text, n = re.subn(r"(?m)^data_dir:.*$", f"data_dir: {DATA}", text)
    if n != 1:
        raise SystemExit("quickstart.yaml has no single data_dir line")
    if delta_lr is not None:
        # tuned (two choices, so the cells still have their 2 tuning trials) but whatever
        # the sampler draws is the same value
        fixed = rf"\1delta_lr: {{distribution: categorical, values: [{delta_lr!r}, {delta_lr!r}]}}"
        text, n = re.subn(r"(?m)^(\s+)delta_lr:.*$", fixed, text)
        if n != 1:
            raise SystemExit("quickstart.yaml has no single delta_lr line")
    out = tmp / "quickstart.yaml"
    out.write_text(text)
    return out


def run_sweep(root: Path, tmp: Path, delta_lr: float | None = None) -> tuple[str, float, int]:
    """Run the quickstart sweep with ROOT's code; returns (tracking URI, seconds, rc)."""
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    sweep = _sweep_file(root, tmp, delta_lr)
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "S3DELTA_HOME": str(tmp / "home"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for name in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS", "OPTUNA_STORAGE", "PYTHONSTARTUP"):
        env.pop(name, None)
    argv = [
        sys.executable,
        "-c",
        "from orchestrator.cli import main; main()",
        "run",
        str(sweep),
        "--run-dir",
        str(tmp / "run"),
        "--tracking-uri",
        uri,
    ]
    log = tmp / "sweep.log"
    started = time.perf_counter()
    with log.open("w") as out:
        rc = subprocess.run(argv, env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
    seconds = round(time.perf_counter() - started, 1)
    tail = log.read_text().splitlines()[-25:]
    print("\n".join(tail), flush=True)
    return uri, seconds, rc.returncode


# -- dumping the store ----------------------------------------------------------------
class Scrub:
    """Replaces what legitimately differs between two runs inside a value."""

    def __init__(self, tmp: Path | None, root: Path | None) -> None:
        self.places: list[tuple[str, str]] = []
        for path, name in ((tmp, "<tmp>"), (root, "<code>"), (REPO, "<repo>")):
            if path is not None:
                for form in {str(path), str(Path(path).resolve())}:
                    self.places.append((form, name))
        self.places.sort(key=lambda p: -len(p[0]))  # longest first: /tmp/x/y before /tmp/x

    def __call__(self, value: str) -> str:
        for place, name in self.places:
            value = value.replace(place, name)
        value = OTHER_TMP.sub("<tmpdir>", value)
        value = RUN_ID.sub("<run-id>", value)
        return ISO_TIME.sub("<time>", value)


def _tag_value(name: str, value: str, scrub: Scrub) -> str:
    if name.startswith("mlflow."):
        return MASKED
    if name == "s3delta.git_commit":
        return "<commit>"
    if TAG_MASK.search(name):
        return MASKED
    return scrub(value)


def _run_key(tags: dict[str, str], name: str) -> str:
    if tags.get("s3delta.key"):
        return tags["s3delta.key"]
    kind = tags.get("s3delta.kind", "run")
    ident = [
        tags[f"s3delta.{t}"]
        for t in ("sweep", "task", "method", "budget", "seed")
        if f"s3delta.{t}" in tags
    ]
    if ident:
        return "|".join([kind, *ident])
    return f"{kind}|{RUN_ID.sub('<run-id>', name)}"


def _artifacts(client: Any, run_id: str, path: str | None = None) -> list[str]:
    names: list[str] = []
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            names += _artifacts(client, run_id, item.path)
        else:
            names.append(item.path)
    return sorted(names)


def dump(uri: str, scrub: Scrub) -> dict[str, Any]:
    """The store's experiments and runs, masked (see the module docstring)."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiments: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    raw: list[Any] = []
    for exp in client.search_experiments(view_type=ViewType.ALL):
        experiments[exp.name] = {
            "lifecycle_stage": exp.lifecycle_stage,
            "artifact_location": scrub(str(exp.artifact_location)).replace(
                f"/{exp.experiment_id}", "/<exp-id>"
            ),
            "tags": {k: scrub(v) for k, v in sorted(exp.tags.items())},
        }
        token = None
        while True:
            page = client.search_runs(
                [exp.experiment_id],
                run_view_type=ViewType.ALL,
                max_results=1000,
                page_token=token,
            )
            raw += [(exp.name, r) for r in page]
            token = page.token
            if not token:
                break
    keys = {r.info.run_id: _run_key(r.data.tags, r.info.run_name or "") for _, r in raw}
    commits = sorted(
        {r.data.tags["s3delta.git_commit"] for _, r in raw if "s3delta.git_commit" in r.data.tags}
    )
    for exp_name, run in sorted(raw, key=lambda er: keys[er[1].info.run_id]):
        tags = run.data.tags
        parent = tags.get("mlflow.parentRunId")
        metrics = {}
        for name in sorted(run.data.metrics):
            history = sorted(
                client.get_metric_history(run.info.run_id, name),
                key=lambda m: (m.step, m.timestamp),
            )
            masked = bool(METRIC_MASK.search(name)) and not METRIC_KEEP.search(name)
            latest = {m.step: m.value for m in history}  # a step logged again: its last value
            metrics[name] = {
                "steps": [m.step for m in history],
                "values": MASKED if masked else [latest[step] for step in sorted(latest)],
            }
        key = keys[run.info.run_id]
        while key in runs:  # two runs under one key: both kept
            key += "#2"
        runs[key] = {
            "experiment": exp_name,
            "status": run.info.status,
            "lifecycle_stage": run.info.lifecycle_stage,
            "run_name": scrub(run.info.run_name or ""),
            "parent": keys.get(parent, parent and "<unknown run>") if parent else None,
            "params": {k: scrub(v) for k, v in sorted(run.data.params.items())},
            "metrics": metrics,
            "tags": {k: _tag_value(k, v, scrub) for k, v in sorted(tags.items())},
            "artifacts": _artifacts(client, run.info.run_id),
        }
    return {"experiments": experiments, "runs": runs, "git_commits": commits}


def record(out: Path, label: str | None, keep: Path | None, delta_lr: float | None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    root = _code_root()
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    if keep is not None:  # the sweep runs there (the store's paths name it)
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
    tmp = keep if keep is not None else Path(tempfile.mkdtemp(prefix="s3delta-layout-"))
    try:
        uri, seconds, rc = run_sweep(root, tmp, delta_lr)
        print(f"sweep: rc {rc}, {seconds} s", flush=True)
        layout = dump(uri, Scrub(tmp, root))
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    if head and layout["git_commits"] and layout["git_commits"] != [head]:
        raise SystemExit(f"the sweep ran {layout['git_commits']}, not {root}'s {head}")
    saved = {
        "label": label,
        "code": str(root),
        "commit": head,
        "rc": rc,
        "seconds": seconds,
        "delta_lr": delta_lr,
        **layout,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n")
    print(f"{len(layout['runs'])} runs written to {out}", flush=True)
    return 0 if rc == 0 else 2


def _via(code_root: Path, args: list[str]) -> int:
    """Run this script again with ``PYTHONPATH=code_root``; check where modules came from."""
    from code_root import rerun_with_code_root  # a sibling script: only when run as one

    return rerun_with_code_root(__file__, code_root, args, "S3DELTA_LAYOUT_ROOT")


# -- comparing ------------------------------------------------------------------------
def _close(a: Any, b: Any) -> bool:
    """Two numbers (or number texts) that differ only in their last digits."""
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return False
    if math.isnan(x) or math.isnan(y) or x == y:
        return False
    return abs(x - y) <= NOISE * max(abs(x), abs(y))


def _diff_map(what: str, a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(differences, last-digit differences) between two name -> value maps."""
    diffs: list[str] = []
    noise: list[str] = []
    if added := sorted(set(b) - set(a)):
        diffs.append(f"{what} added: " + ", ".join(f"{k}={b[k]!r}" for k in added))
    if removed := sorted(set(a) - set(b)):
        diffs.append(f"{what} removed: " + ", ".join(f"{k}={a[k]!r}" for k in removed))
    for k in sorted(set(a) & set(b)):
        if a[k] != b[k]:
            line = f"{what} changed: {k}: {a[k]!r} -> {b[k]!r}"
            (noise if _close(a[k], b[k]) else diffs).append(line)
    return diffs, noise


def _short(values: Any) -> str:
    if isinstance(values, list) and len(values) == 1:
        return repr(values[0])
    if isinstance(values, list) and len(values) > 4:
        return f"[{values[0]!r}, ..., {values[-1]!r}] ({len(values)} values)"
    return repr(values)


def _diff_metrics(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], list[str]]:
    diffs: list[str] = []
    noise: list[str] = []
    if added := sorted(set(b) - set(a)):
        diffs.append(
            "metrics added: " + ", ".join(f"{k} ({len(b[k]['steps'])} steps)" for k in added)
        )
    if removed := sorted(set(a) - set(b)):
        diffs.append(
            "metrics removed: " + ", ".join(f"{k} ({len(a[k]['steps'])} steps)" for k in removed)
        )
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x["steps"] != y["steps"]:
            diffs.append(
                f"metric steps changed: {k}: {len(x['steps'])} steps -> "
                f"{len(y['steps'])} ({x['steps'][:6]} -> {y['steps'][:6]})"
            )
        elif x["values"] != y["values"]:
            close = (
                isinstance(x["values"], list)
                and isinstance(y["values"], list)
                and len(x["values"]) == len(y["values"])
                and all(
                    u == v or _close(u, v) for u, v in zip(x["values"], y["values"], strict=True)
                )
            )
            line = f"metric changed: {k}: {_short(x['values'])} -> {_short(y['values'])}"
            (noise if close else diffs).append(line)
    return diffs, noise


def diff_run(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(differences, last-digit differences) between two runs' records."""
    diffs: list[str] = []
    noise: list[str] = []
    for field in ("experiment", "status", "lifecycle_stage", "run_name", "parent"):
        if a.get(field) != b.get(field):
            diffs.append(f"{field}: {a.get(field)!r} -> {b.get(field)!r}")
    for what in ("params", "tags"):
        d, n = _diff_map(what, a.get(what, {}), b.get(what, {}))
        diffs += d
        noise += n
    d, n = _diff_metrics(a.get("metrics", {}), b.get("metrics", {}))
    diffs += d
    noise += n
    arts_a, arts_b = set(a.get("artifacts", [])), set(b.get("artifacts", []))
    if arts_b - arts_a:
        diffs.append(f"artifacts added: {sorted(arts_b - arts_a)}")
    if arts_a - arts_b:
        diffs.append(f"artifacts removed: {sorted(arts_a - arts_b)}")
    return diffs, noise


def compare_layouts(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], int]:
    """Lines saying per experiment and run what differs; and how many differ (noise apart)."""
    lines: list[str] = []
    bad = 0
    for kind in ("experiments", "runs"):
        left, right = a.get(kind, {}), b.get(kind, {})
        for name in sorted(set(left) | set(right)):
            what = "experiment" if kind == "experiments" else "run"
            if name not in right:
                lines.append(f"{what} {name}: only in A")
                bad += 1
                continue
            if name not in left:
                lines.append(f"{what} {name}: only in B")
                bad += 1
                continue
            if kind == "experiments":
                diffs, noise = [], []
                for field in ("lifecycle_stage", "artifact_location"):
                    if left[name][field] != right[name][field]:
                        diffs.append(f"{field}: {left[name][field]!r} -> {right[name][field]!r}")
                d, n = _diff_map("tags", left[name]["tags"], right[name]["tags"])
                diffs += d
                noise += n
            else:
                diffs, noise = diff_run(left[name], right[name])
            if diffs:
                bad += 1
                lines.append(f"{what} {name}: DIFFERENT")
                lines += [f"    {line}" for line in diffs]
            else:
                lines.append(
                    f"{what} {name}: equal" + (" (floats differ in last digits)" if noise else "")
                )
            lines += [f"    last digits: {line}" for line in noise]
    return lines, bad


def compare(first: Path, second: Path) -> int:
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    print(
        f"A: {first.name} ({a.get('label') or a.get('commit')}, {len(a['runs'])} runs, "
        f"sweep rc {a.get('rc')}, {a.get('seconds')} s)"
    )
    print(
        f"B: {second.name} ({b.get('label') or b.get('commit')}, {len(b['runs'])} runs, "
        f"sweep rc {b.get('rc')}, {b.get('seconds')} s)"
    )
    lines, bad = compare_layouts(a, b)
    print("\n".join(lines))
    print("identical layout" if not bad else f"{bad} experiment(s)/run(s) differ")
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "mlflow_layout_now.json")
    parser.add_argument("--code", type=Path, help="project root to import from (PYTHONPATH)")
    parser.add_argument("--label", help="saved with the results, e.g. the commit under test")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    parser.add_argument(
        "--delta-lr",
        type=float,
        help="a control: delta_lr tuned over [X, X], so no trial's settings depend on what "
        "the Optuna sampler draws",
    )
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    parser.add_argument("--from-store", metavar="URI", help="dump this store; run nothing")
    parser.add_argument("--tmp", type=Path, help="with --from-store: the sweep's temp folder")
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if args.from_store:
        layout = dump(args.from_store, Scrub(args.tmp, args.code))
        saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
        saved.update(layout)  # the sweep's rc, seconds and commit stay as recorded
        if args.label:
            saved["label"] = args.label
        args.out.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n")
        return
    if args.code is not None:
        extra = ["--label", args.label] if args.label else []
        extra += ["--keep", str(args.keep.resolve())] if args.keep else []
        extra += ["--delta-lr", repr(args.delta_lr)] if args.delta_lr is not None else []
        sys.exit(_via(args.code, ["--out", str(args.out.resolve()), *extra]))
    sys.exit(record(args.out, args.label, args.keep, args.delta_lr))


if __name__ == "__main__":
    main()
