"""Peak memory of an S3Delta search step against a PEFT LoRA r=1 step (issue 9, point 4).

Goals, all-MiniLM-L6-v2, batch 16, length 128, 1 thread: a first-order search step
(alpha step + w step) peaks at most 1.5x a step of PEFT's LoRA r=1 on all attention and
FFN linears; a second-order (unrolled DARTS) search step at most 1.6x.

Each configuration runs in its own fresh subprocess, so that peaks don't mix:

1. load the backbone and tokenizer, encode the batches, read RSS ("after load");
2. build the configuration exactly as a trial does (`build`, shared with bench_gpu.py):
   - ``s3delta-search-o1`` / ``-o2``: `TaskModel` + `GatedSupernet` over space M at the
     0.01% budget, AdamW groups as `workers.trial._search` builds them, the alpha step from
     `workers.search.make_alpha_step` over two `BatchStream`s (darts_order 1 or 2), then
     the w step as in `Phase.run` (zero_grad, loss, backward, clip, step);
   - ``peft-lora-r1-all``: `peft.get_peft_model` with `LoraConfig(r=1)` on every attention
     and FFN linear (as bench_step_cost.py), the same `TaskModel` head, batches and w step;
   - for reference (no goal): ``s3delta-supernet-w-only`` (the supernet's w step without
     the alpha step) and ``structure-random`` (a random structure at the budget, applied
     as the retrain phase applies it);
3. run 2 warm-up steps, reset the peak (``5`` into /proc/self/clear_refs resets VmHWM to
   the current RSS; on CUDA also `torch.cuda.reset_peak_memory_stats`), run N steps, read
   VmHWM (and `torch.cuda.max_memory_allocated`).

Reported per configuration: peak RSS, the step's own memory (peak RSS minus RSS after
load: deltas, optimiser state, activations, allocator slack) and, with ``--device cuda``,
peak allocated GPU memory and that minus the allocation after loading the backbone; then
each search configuration's ratios to PEFT on every measure, against the goals.
Every configuration runs under two malloc settings (``--allocators``): glibc's default, as
trials run (headline figures; RSS there also holds freed heap pages that glibc keeps, and
varies by some 5-10% from run to run, hence the median of ``--repeats`` rounds), and
``MALLOC_MMAP_THRESHOLD_=131072``, under which large blocks go back to the system when
freed, so that peak RSS follows the peak of live tensors (the same to the MB in every
run, so measured in the first round only).
Rows are whole: SST-2 training sentences joined until they fill ``--length`` tokens, so
every batch is [batch, length] and shapes match across configurations.

    nice -n 5 .venv/bin/python benchmarks/bench_memory.py [--steps 5] [--device cuda]

Writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout that is not pip-installed (a GPU machine)
    sys.path.insert(0, str(REPO))

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results" / "memory.json"
ALL_LINEARS = (
    r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense"
    r"|intermediate\.dense|output\.dense)"
)
PEFT = "peft-lora-r1-all"
SEARCH_O1 = "s3delta-search-o1"
SEARCH_O2 = "s3delta-search-o2"
W_ONLY = "s3delta-supernet-w-only"
STRUCTURE = "structure-random"
CONFIGS = (PEFT, SEARCH_O1, SEARCH_O2, W_ONLY, STRUCTURE)
GOALS = {SEARCH_O1: 1.5, SEARCH_O2: 1.6}
MB = 1024 * 1024


# ---- data ------------------------------------------------------------------------------


def fixed_length_rows(
    tokenizer: Any, rows: int, length: int, data_dir: Path | str | None = DATA
) -> tuple[dict[str, torch.Tensor], str]:
    """``rows`` encoded rows of exactly ``length`` tokens, no padding, with labels.

    SST-2 training sentences are joined until a row has at least ``length`` words (every
    word is at least one token), then cut to ``length`` tokens; without the data file,
    seeded random token ids. Returns the tensors and a line saying which was used.
    """
    path = Path(data_dir or DATA) / "glue" / "SST-2" / "train.tsv"
    texts: list[str] = []
    labels: list[int] = []
    if path.is_file():
        words: list[str] = []
        first_label = 0
        with path.open(encoding="utf-8") as lines:
            next(lines)  # header: sentence, label
            for line in lines:
                sentence, label = line.rstrip("\n").rsplit("\t", 1)
                if not words:
                    first_label = int(label)
                words.extend(sentence.split())
                if len(words) >= length:
                    texts.append(" ".join(words))
                    labels.append(first_label)
                    words = []
                    if len(texts) == rows:
                        break
    if len(texts) == rows:
        encoded = dict(
            tokenizer(
                texts,
                truncation=True,
                max_length=length,
                padding="max_length",
                return_tensors="pt",
            )
        )
        source = f"SST-2 train sentences ({path}) joined and cut to {length} tokens"
    else:
        generator = torch.Generator().manual_seed(0)
        encoded = {
            "input_ids": torch.randint(
                1000, tokenizer.vocab_size, (rows, length), generator=generator
            ),
            "attention_mask": torch.ones(rows, length, dtype=torch.long),
            "token_type_ids": torch.zeros(rows, length, dtype=torch.long),
        }
        labels = torch.randint(0, 2, (rows,), generator=generator).tolist()
        source = f"random token ids, {length} per row ({path} not found)"
    keep = ("input_ids", "attention_mask", "token_type_ids")
    out = {k: v for k, v in encoded.items() if k in keep}
    out["labels"] = torch.tensor(labels, dtype=torch.long)
    assert bool(out["attention_mask"].all()), "every row must be full (no padding to trim)"
    return out, source


# ---- the configurations, built as a trial builds them -----------------------------------


@dataclass
class Built:
    """A configuration ready to step: ``step(i)`` does training step i (1-based) of a phase."""

    name: str
    step: Callable[[int], None]
    model: torch.nn.Module
    trainable_params: int
    info: dict[str, Any] = field(default_factory=dict)


def _halves(encoded: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], ...]:
    half = len(encoded["labels"]) // 2
    return (
        {k: v[:half] for k, v in encoded.items()},
        {k: v[half:] for k, v in encoded.items()},
    )


def build(
    name: str,
    backbone: torch.nn.Module,
    encoded: dict[str, torch.Tensor],
    batch_size: int,
    device: torch.device,
    precision: str = "fp32",
    model_name: str = MODEL,
    seed: int = 1,
) -> Built:
    """Configuration ``name`` on ``backbone`` with `TrialConfig` defaults (s3delta's at 0.01%).

    The rows are split in halves as the search splits train: the w steps draw from the
    first, the alpha steps from the second.
    """
    from search_space import (
        GatedSupernet,
        apply_structure,
        backbone_params,
        find_candidates,
        freeze,
        parse_budget,
        random_select,
        structure_from_candidates,
    )
    from search_space.gates import annealed_temperature
    from workers.batch_stream import BatchStream
    from workers.data import get_task
    from workers.evaluate import to_device
    from workers.optim import delta_param_groups, head_group
    from workers.phase import linear_decay
    from workers.runtime import seed_everything
    from workers.search import make_alpha_step
    from workers.task_model import TaskModel
    from workers.trial_types import TrialConfig

    if name not in CONFIGS:
        raise ValueError(f"unknown configuration {name!r}; use one of {', '.join(CONFIGS)}")
    cfg = TrialConfig(
        model=model_name,
        batch_size=batch_size,
        precision=precision,  # type: ignore[arg-type]
        seed=seed,
        darts_order=2 if name == SEARCH_O2 else 1,
    )
    spec = get_task(cfg.task)
    w_rows, a_rows = _halves(encoded)
    info: dict[str, Any] = {}
    net = None
    if name == PEFT:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=1, lora_alpha=1, target_modules=ALL_LINEARS, lora_dropout=0.0)
        backbone = get_peft_model(backbone, lora)
        seed_everything(cfg.seed)
        model = TaskModel(backbone, spec, False, cfg.pooling, cfg.precision)
        lora_params = [p for p in backbone.parameters() if p.requires_grad]
        groups: list[dict[str, Any]] = [
            {"params": lora_params, "lr": cfg.delta_lr, "name": "delta:peft-lora"}
        ]
        groups += head_group(model.head, cfg.head_lr)
    else:
        cands = find_candidates(backbone, cfg.space)
        budget = parse_budget(cfg.budget).resolve(
            backbone_params(backbone), min(c.size for c in cands)
        )
        info.update(budget=budget, candidates=len(cands))
        if name == STRUCTURE:  # as `_retrain` applies a random trial's structure
            chosen = random_select(cands, budget, cfg.seed)
            structure = structure_from_candidates(
                chosen, cfg.model, backbone_params(backbone), budget, cfg.space
            )
            info["modules"] = len(chosen)
            seed_everything(cfg.seed)
            model = TaskModel(backbone, spec, False, cfg.pooling, cfg.precision)
            deltas = apply_structure(backbone, structure, cfg.lora_scale)
            model.attach_deltas(deltas)
            groups = delta_param_groups(deltas, cfg.delta_lr, cfg.kind_lr)
        else:  # as `_search` builds the supernet
            freeze(backbone)
            if getattr(cfg, "search_fittable_only", False):
                cands = [c for c in cands if c.size <= budget]
                info["candidates"] = len(cands)
            seed_everything(cfg.seed)
            model = TaskModel(backbone, spec, False, cfg.pooling, cfg.precision)
            net = GatedSupernet(
                backbone,
                cands,
                budget,
                beta=cfg.beta,
                rescale=cfg.rescale,
                gradient_projection=cfg.gradient_projection,
                lora_scale=cfg.lora_scale,
                seed=cfg.seed,
            )
            net.gates.temperature = cfg.gate_temperature
            model.attach_deltas(net)
            groups = delta_param_groups(net.delta_set, cfg.delta_lr, cfg.kind_lr)
        groups += head_group(model.head, cfg.head_lr)
    model.to(device)
    w_opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    w_sched = linear_decay(w_opt, cfg.search_steps)
    w_stream = BatchStream(w_rows, cfg.batch_size, cfg.seed)
    w_params = [p for g in groups for p in g["params"]]
    before: Callable[[int], Any] | None = None
    if net is not None and name != W_ONLY:
        gates = net.gates
        a_opt = torch.optim.AdamW([gates.alpha], lr=cfg.structure_lr, weight_decay=0.0)
        a_sched = linear_decay(a_opt, cfg.search_steps - cfg.alpha_warmup_steps)
        a_stream = BatchStream(a_rows, cfg.batch_size, cfg.seed + 1)
        alpha_step = make_alpha_step(
            model=model,
            alpha=gates.alpha,
            w_params=w_params,
            alpha_opt=a_opt,
            alpha_sched=a_sched,
            alpha_stream=a_stream,
            train_stream=w_stream,
            device=device,
            order=cfg.darts_order,
            grad_clip=cfg.grad_clip,
            w_lr=lambda: w_opt.param_groups[0]["lr"],
            shared_sample=net.shared_sample,
        )

        def before(step: int) -> dict[str, float]:
            gates.temperature = annealed_temperature(
                cfg.gate_temperature, cfg.gate_temperature_final, step, cfg.search_steps
            )
            return alpha_step(step)

    def step(i: int) -> None:  # Phase.run's loop body, evaluation and checkpoints aside
        model.train()
        if before is not None:
            before(i)
        batch = to_device(w_stream.batch_at(i - 1), device)
        w_opt.zero_grad(set_to_none=True)
        loss = model.loss(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{name} step {i}: the training loss is {float(loss)}")
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(w_params, cfg.grad_clip)
        w_opt.step()
        w_sched.step()
        float(loss.detach())
        if net is not None:
            net.expected_size()

    trainable = sum(p.numel() for p in w_params)
    if net is not None:
        trainable += net.gates.alpha.numel()
    return Built(name, step, model, trainable, info)


# ---- one configuration in a fresh process ------------------------------------------------


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS (Linux >= 4.0)


def measure_child(args: argparse.Namespace) -> dict[str, Any]:
    """Everything a child reports for ``args.child``; the parent reads it from stdout."""
    # every library any configuration uses is loaded before "after load", for all alike
    import peft  # noqa: F401

    import workers.trial  # noqa: F401
    from search_space import load_backbone

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    backbone, tokenizer = load_backbone(args.model)
    encoded, source = fixed_length_rows(tokenizer, 4 * args.batch, args.length, args.data_dir)
    if cuda:
        backbone.to(device)
        torch.cuda.synchronize()
    after_load_kb = _status_kb("VmRSS")
    cuda_after_load = torch.cuda.memory_allocated() if cuda else 0
    built = build(args.child, backbone, encoded, args.batch, device, model_name=args.model)
    for i in range(1, args.warmup + 1):
        built.step(i)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    _reset_peak_rss()
    before_steps_kb = _status_kb("VmRSS")
    started = time.perf_counter()
    for i in range(args.warmup + 1, args.warmup + args.steps + 1):
        built.step(i)
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / args.steps
    peak_kb = _status_kb("VmHWM")
    out: dict[str, Any] = {
        "config": args.child,
        "rss_after_load_mb": after_load_kb / 1024,
        "rss_before_steps_mb": before_steps_kb / 1024,
        "peak_rss_mb": peak_kb / 1024,
        "step_rss_mb": (peak_kb - after_load_kb) / 1024,
        "step_s": seconds,
        "trainable_params": built.trainable_params,
        "data": source,
        **built.info,
    }
    if cuda:
        peak = torch.cuda.max_memory_allocated()
        out.update(
            cuda_after_load_mb=cuda_after_load / MB,
            cuda_peak_mb=peak / MB,
            cuda_step_mb=(peak - cuda_after_load) / MB,
        )
    return out


# glibc malloc: by default freed blocks often stay in the process (the mmap threshold grows
# after frees, so later large tensors come from the heap, which fragments and keeps its
# pages), so RSS reflects the allocator's history as well as live tensors. With a fixed
# threshold every block of 128 KiB or more is mmapped and unmapped when freed, so the peak
# RSS follows the peak of live memory.
ALLOCATORS = {
    "glibc-default": {},
    "glibc-mmap-128k": {"MALLOC_MMAP_THRESHOLD_": "131072"},
}
# peaks that repeat to the MB from run to run: measured in the first round only
DETERMINISTIC = {"glibc-mmap-128k"}


def run_child(name: str, args: argparse.Namespace, allocator: str) -> dict[str, Any]:
    """Run one configuration in a fresh interpreter and return its figures."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name]
    for option in ("model", "data_dir", "batch", "length", "steps", "warmup", "threads", "device"):
        cmd += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    env.pop("MALLOC_MMAP_THRESHOLD_", None)
    env.update(ALLOCATORS[allocator])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


MEASURES = ("peak_rss_mb", "step_rss_mb", "cuda_peak_mb", "cuda_step_mb")


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Median per configuration over its runs; ratios of the search configurations to PEFT."""
    configs: dict[str, Any] = {}
    for name, rows in runs.items():
        summary: dict[str, Any] = {}
        for key in ("rss_after_load_mb", "step_s", *MEASURES):
            if key in rows[0]:
                summary[key] = round(statistics.median(r[key] for r in rows), 3)
        summary["trainable_params"] = rows[0]["trainable_params"]
        summary["runs"] = [{k: r[k] for k in r if k != "data"} for r in rows]
        configs[name] = summary
    ratios: dict[str, dict[str, float]] = {}
    passed: dict[str, dict[str, bool]] = {}
    if PEFT in configs:
        base = configs[PEFT]
        for name, summary in configs.items():
            if name == PEFT:
                continue
            ratios[name] = {
                key: round(summary[key] / base[key], 4) for key in MEASURES if key in summary
            }
            if name in GOALS:
                passed[name] = {key: r <= GOALS[name] for key, r in ratios[name].items()}
    return {"configs": configs, "ratios_to_peft": ratios, "pass": passed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rounds over the configurations (the live-memory view runs in the first only)",
    )
    parser.add_argument(
        "--allocators",
        nargs="+",
        default=list(ALLOCATORS),
        choices=list(ALLOCATORS),
        help="malloc settings to measure under (the first gives the headline figures)",
    )
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--data-dir", default=str(DATA))
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_child(args)))
        return
    if not Path("/proc/self/clear_refs").exists():
        raise SystemExit("bench_memory.py reads /proc/self (VmHWM): it needs Linux")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda but no CUDA GPU is visible")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        a: {name: [] for name in args.configs} for a in args.allocators
    }
    data = ""
    for round_ in range(args.repeats):
        for name in args.configs:  # interleaved rounds: drifting conditions hit all alike
            for allocator in args.allocators:
                if round_ and allocator in DETERMINISTIC:
                    continue
                row = run_child(name, args, allocator)
                data = row["data"]
                runs[allocator][name].append(row)
                cuda = f", GPU peak {row['cuda_peak_mb']:.0f} MB" if "cuda_peak_mb" in row else ""
                print(
                    f"[{round_ + 1}/{args.repeats}] {name} ({allocator}): peak RSS "
                    f"{row['peak_rss_mb']:.0f} MB, step's own {row['step_rss_mb']:.0f} MB "
                    f"(after load {row['rss_after_load_mb']:.0f} MB){cuda}, "
                    f"{row['step_s']:.2f} s/step",
                    flush=True,
                )
    if args.device.startswith("cuda"):
        device = f"GPU: {torch.cuda.get_device_name()}, CUDA {torch.version.cuda}"
    else:
        device = f"CPU: {platform.processor() or platform.machine()}, {args.threads} thread(s)"
    result = {
        "benchmark": "bench_memory.py (issue 9, point 4)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "device": device,
        "torch": torch.__version__,
        "model": args.model,
        "batch": args.batch,
        "length": args.length,
        "warmup_steps": args.warmup,
        "measured_steps": args.steps,
        "repeats": args.repeats,
        "figures": "per configuration the median over its runs (all runs listed)",
        "data": data,
        "measures": {
            "peak_rss_mb": "VmHWM over the measured steps (reset after the warm-up)",
            "step_rss_mb": "peak RSS minus RSS after loading the backbone and data",
            "cuda_peak_mb": "torch.cuda.max_memory_allocated over the measured steps",
            "cuda_step_mb": "that minus the allocation after moving the backbone to the GPU",
        },
        "goals": {name: f"<= {goal}x {PEFT}" for name, goal in GOALS.items()},
        "allocators": {
            "glibc-default": "malloc as a trial runs it; RSS keeps freed, fragmented heap pages",
            "glibc-mmap-128k": "MALLOC_MMAP_THRESHOLD_=131072: blocks >= 128 KiB unmapped "
            "when freed, so peak RSS follows the peak of live memory",
        },
        "headline_allocator": args.allocators[0],
        "by_allocator": {a: summarise(r) for a, r in runs.items()},
    }
    headline = result["by_allocator"][args.allocators[0]]
    result["ratios_to_peft"], result["pass"] = headline["ratios_to_peft"], headline["pass"]
    for allocator, summary in result["by_allocator"].items():
        for name, ratios in summary["ratios_to_peft"].items():
            text = ", ".join(f"{k} {v:.3f}x" for k, v in ratios.items())
            goal = f" (goal <= {GOALS[name]}x)" if name in GOALS else ""
            print(f"{allocator}: {name} / {PEFT}: {text}{goal}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
