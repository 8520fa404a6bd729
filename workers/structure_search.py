"""The s3delta structure search (spec sections 3-4): bi-level DARTS-style optimisation of
delta weights and gate logits on a 50/50 split of train, best-dev checkpoint, greedy
discretisation under the budget. Resumes from the trial's checkpoints.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from search_space import GatedSupernet, find_candidates, freeze
from search_space.gate_diagnostics import gate_concentration
from search_space.gates import annealed_temperature
from workers.batch_stream import BatchStream
from workers.data.batching import select_rows
from workers.optim import delta_param_groups, head_group
from workers.phase import linear_decay
from workers.runtime import seed_everything
from workers.search import make_alpha_step
from workers.task_model import TaskModel
from workers.trial_context import TrialContext


def search_structure(ctx: TrialContext, backbone: torch.nn.Module, budget: int) -> dict[str, Any]:
    """Bi-level search; returns the chosen candidates' names, final p, trajectory, dev scores."""
    cfg = ctx.cfg
    done = ctx.checkpointer.load_json("search_done")
    if done is not None:
        return done
    freeze(backbone)
    cands = find_candidates(backbone, cfg.space)
    if cfg.search_fittable_only:
        cands = [c for c in cands if c.size <= budget]
    seed_everything(cfg.seed)
    model = TaskModel(
        backbone, ctx.spec, ctx.seq2seq, cfg.pooling, cfg.precision, pack_tokens=cfg.pack_tokens
    )
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
    model.to(ctx.device)
    order = list(range(len(ctx.splits.train)))
    random.Random(cfg.seed).shuffle(order)
    half = len(order) // 2
    train = ctx.encode(ctx.splits.train, "train")  # tokenised once; the retrain reuses it
    groups = delta_param_groups(net.delta_set, cfg.delta_lr, cfg.kind_lr) + head_group(
        model.head, cfg.head_lr
    )
    w_opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    a_opt = torch.optim.AdamW([net.gates.alpha], lr=cfg.structure_lr, weight_decay=0.0)
    a_sched = linear_decay(a_opt, cfg.search_steps - cfg.alpha_warmup_steps)
    w_half, a_half = (
        select_rows(train, sorted(order[:half])),
        select_rows(train, sorted(order[half:])),
    )
    w_stream = BatchStream(w_half, cfg.batch_size, cfg.seed)
    a_stream = BatchStream(a_half, cfg.batch_size, cfg.seed + 1)
    w_params = [p for g in groups for p in g["params"]]
    alpha_step = make_alpha_step(
        model=model,
        alpha=net.gates.alpha,
        w_params=w_params,
        alpha_opt=a_opt,
        alpha_sched=a_sched,
        alpha_stream=a_stream,
        train_stream=w_stream,
        device=ctx.device,
        order=cfg.darts_order,
        grad_clip=cfg.grad_clip,
        w_lr=lambda: w_opt.param_groups[0]["lr"],
        shared_sample=net.shared_sample,
    )

    def before_step(step: int) -> dict[str, float]:
        """Set this step's gate temperature, then (after the warm-up) one alpha update."""
        temperature = annealed_temperature(
            cfg.gate_temperature, cfg.gate_temperature_final, step, cfg.search_steps
        )
        net.gates.temperature = temperature
        metrics = {"gate_temperature": temperature}
        if step > cfg.alpha_warmup_steps:
            metrics.update(alpha_step(step))
        return metrics

    sizes = [c.size for c in cands]
    phase_box: list[Any] = []  # the phase, once built (the diagnostics evaluate through it)

    def gate_diagnostics(step: int, supernet_score: float) -> dict[str, float]:
        """How decided the gates are at this evaluation (cheap); with
        ``search_discrete_eval``, also the dev score of the supernet cut to the structure
        the greedy pick would take now, and the gap to the supernet's (one more dev pass)."""
        found = gate_concentration(list(net.probabilities().values()), sizes)
        found["structure_updates"] = float(max(0, step - cfg.alpha_warmup_steps))
        if cfg.search_discrete_eval:
            net.fixed_z = net.discrete_gates(net.discretize())
            _, discrete_score, _ = phase_box[0].evaluate()
            net.fixed_z = None
            found["discrete_dev_score"] = discrete_score
            found["discretisation_gap"] = supernet_score - discrete_score
        return found

    # the alpha optimiser is stepped only by the alpha step; the phase just checkpoints it
    phase = ctx.phase(
        "search",
        model,
        w_opt,
        cfg.search_steps,
        w_stream,
        generator=net.generator,
        before_step=before_step,
        step_metrics=lambda: {"expected_size": net.expected_size(), "budget": float(budget)},
        aux_optimizers=[a_opt],
        aux_schedulers=[a_sched],
        after_eval=gate_diagnostics,
    )
    phase_box.append(phase)
    outcome, _ = phase.run()
    chosen = net.discretize()
    probabilities = net.probabilities()
    diagnostics = gate_concentration(list(probabilities.values()), [c.size for c in cands])
    # the searched supernet cut to the discrete structure, on the same dev examples
    net.fixed_z = net.discrete_gates(chosen)
    _, discrete_score, _ = phase.evaluate()
    net.fixed_z = None
    diagnostics["discrete_dev_score"] = discrete_score
    diagnostics["discretisation_gap"] = outcome.best_score - discrete_score
    diagnostics["structure_updates"] = float(max(0, cfg.search_steps - cfg.alpha_warmup_steps))
    net.remove()
    done = {
        "search_diagnostics": diagnostics,
        "chosen": [c.name for c in chosen],
        "probabilities": probabilities,
        # alpha does not depend on the budget: the structures at other budgets come from it
        # (search_space.rebudget)
        "logits": dict(zip([c.name for c in cands], net.gates.alpha.tolist(), strict=True)),
        "trajectory": outcome.trajectory,
        "search_dev": outcome.best_metrics,
        "search_dev_score": outcome.best_score,
        "search_best_step": outcome.best_step,
        "search_seconds": outcome.seconds,
    }
    with ctx.timings.measure("checkpoints"):
        ctx.checkpointer.save_json("search_done", done)
    return done
