"""Training-step cost of the gated supernet and of applied structures against PEFT LoRA.

Targets (issue 2), batch 16, length 128, all-MiniLM-L6-v2, on this CPU:
- a step of the gated supernet (space M, all 110 candidates live, gates sampled) costs at
  most 1.3x a step of PEFT's LoRA r=1 on all attention and FFN linears;
- a step of an applied structure of LoRA r=8 on q,v is within 5% of PEFT's LoRA r=8 on q,v.
A step = forward, mean pooling, linear head, cross-entropy, backward, AdamW step.
Steps are timed interleaved (A, B, A, B, ...) so drifting load hits both sides alike.
Prints the ratios and saves JSON to benchmarks/results/step_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def make_step(
    model: torch.nn.Module, extra_params: list[torch.nn.Parameter], batch: dict
) -> Callable[[], None]:
    head = torch.nn.Linear(384, 2)
    params = (
        [p for p in model.parameters() if p.requires_grad] + extra_params + list(head.parameters())
    )
    opt = torch.optim.AdamW(params, lr=1e-3)
    labels = torch.randint(
        0, 2, (batch["input_ids"].shape[0],), generator=torch.Generator().manual_seed(0)
    )
    mask = batch["attention_mask"].unsqueeze(-1).float()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        hidden = model(**batch).last_hidden_state
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        F.cross_entropy(head(pooled), labels).backward()
        opt.step()

    return step


def peft_model(rank: int, targets: str):
    from peft import LoraConfig, get_peft_model

    from search_space import load_backbone

    base, _ = load_backbone(MODEL)
    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=targets, lora_dropout=0.0)
    model = get_peft_model(base, config)
    model.train()
    return model


def ours_supernet():
    from search_space import GatedSupernet, find_candidates, freeze, load_backbone

    model, _ = load_backbone(MODEL)
    freeze(model)
    net = GatedSupernet(model, find_candidates(model, "M"), budget=2271)
    model.train()
    net.train()
    return model, list(net.parameters())


def ours_structure():
    from search_space import apply_structure, load_backbone, manual_structure

    model, _ = load_backbone(MODEL)
    deltas = apply_structure(model, manual_structure("lora-qv-r8", model, MODEL))
    model.train()
    return model, list(deltas.parameters())


def timed_pair(
    a: Callable[[], None], b: Callable[[], None], warmup: int, repeats: int
) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, sink in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - start)
    return ta, tb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "step_cost.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from search_space import load_backbone

    _, tok = load_backbone(MODEL)
    text = "the film is a quiet , moving portrait of a family , and it earns every minute . " * 8
    batch = dict(
        tok(
            [text] * args.batch,
            truncation=True,
            max_length=args.length,
            padding="max_length",
            return_tensors="pt",
        )
    )
    all_linears = r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"
    qv = r".*encoder\.layer\.\d+\.attention\.self\.(query|value)"

    sup_model, sup_params = ours_supernet()
    peft1 = peft_model(1, all_linears)
    t_sup, t_peft1 = timed_pair(
        make_step(sup_model, sup_params, batch),
        make_step(peft1, [], batch),
        args.warmup,
        args.repeats,
    )
    del sup_model, peft1
    st_model, st_params = ours_structure()
    peft8 = peft_model(8, qv)
    t_st, t_peft8 = timed_pair(
        make_step(st_model, st_params, batch),
        make_step(peft8, [], batch),
        args.warmup,
        args.repeats,
    )
    med = statistics.median
    result = {
        "device": f"CPU: {platform.processor() or platform.machine()}, {args.threads} threads",
        "torch": torch.__version__,
        "batch": args.batch,
        "length": args.length,
        "repeats": args.repeats,
        "supernet_step_s": med(t_sup),
        "peft_lora_r1_all_step_s": med(t_peft1),
        "supernet_over_peft_r1": med(t_sup) / med(t_peft1),
        "supernet_target": 1.3,
        "structure_lora_qv_r8_step_s": med(t_st),
        "peft_lora_qv_r8_step_s": med(t_peft8),
        "structure_over_peft_r8": med(t_st) / med(t_peft8),
        "structure_target": 1.05,
    }
    result["supernet_ok"] = result["supernet_over_peft_r1"] <= 1.3
    result["structure_ok"] = result["structure_over_peft_r8"] <= 1.05
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
