"""One trial: load a task, build the model, run a method at a budget and a seed, score it.

`run_trial` is the plain function (config in, result out); `TrialActor` is a class a Ray
actor can host. Neither imports Ray or MLflow. Methods (spec sections 3-5):

- ``s3delta``: bi-level search on a 50/50 split of train, best-dev checkpoint, greedy
  discretisation, then retraining from scratch on the full train set.
- ``random``: a seeded random structure at the budget, retrained the same way.
- ``manual/<name>`` or ``manual/<file.json>``: a fixed structure at its own size.
- ``finetune``: every backbone parameter trained (no delta weights are saved).
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from search_space import (
    DeltaSet,
    GatedSupernet,
    Structure,
    apply_structure,
    backbone_fingerprint,
    backbone_params,
    find_candidates,
    freeze,
    load_backbone,
    manual_structure,
    parse_budget,
    random_select,
    save_delta,
    structure_from_candidates,
)
from search_space.backbone import is_seq2seq
from search_space.gate_diagnostics import gate_concentration
from search_space.gates import annealed_temperature
from workers.batch_stream import BatchStream
from workers.checkpoint import Checkpointer
from workers.data import (
    Example,
    Splits,
    TaskSpec,
    cap_examples,
    cap_splits,
    encode_for_encoder,
    encode_for_t5,
    get_task,
    load_task,
    make_splits,
)
from workers.data.encode_cache import EncodeCache
from workers.evaluate import evaluate
from workers.methods import Method, parse_method
from workers.optim import delta_param_groups, head_group
from workers.phase import Phase, linear_decay
from workers.runtime import pick_device, seed_everything, set_threads
from workers.search import make_alpha_step
from workers.task_model import TaskModel
from workers.timings import Timings
from workers.trial_types import ProgressEvent, TrialConfig, TrialResult

Callback = Callable[[ProgressEvent], None] | None


class TrialSetupError(ValueError):
    """A trial config that cannot run; raised before any model or data is loaded."""


def _check(cfg: TrialConfig) -> tuple[Method, TaskSpec]:
    method = parse_method(cfg.method)
    spec = get_task(cfg.task)
    if method.uses_budget:
        if cfg.budget is None:
            raise TrialSetupError(f"method {cfg.method!r} needs a budget: set budget, e.g. '0.01%'")
        parse_budget(cfg.budget)
    if method.family == "s3delta" and cfg.search_steps <= 0:
        raise TrialSetupError("search_steps must be positive for s3delta, e.g. 300")
    for name in ("search_epochs", "retrain_epochs"):
        value = getattr(cfg, name)
        if value is not None and not (0 < value < 10_000):
            raise TrialSetupError(f"{name}={value} must be positive and finite, e.g. 10")
    if cfg.search_epochs is None and not 0 <= cfg.alpha_warmup_steps < max(cfg.search_steps, 1):
        raise TrialSetupError(
            f"alpha_warmup_steps={cfg.alpha_warmup_steps} must be >= 0 and below "
            f"search_steps={cfg.search_steps}, e.g. {cfg.search_steps // 5}"
        )
    for name in ("gate_temperature", "gate_temperature_final"):
        value = getattr(cfg, name)
        if value is not None and not (0 < value < float("inf")):
            raise TrialSetupError(f"{name}={value} must be a positive finite number, e.g. 0.1")
    if cfg.retrain_steps <= 0 or cfg.eval_every <= 0 or cfg.batch_size <= 0:
        raise TrialSetupError("retrain_steps, eval_every and batch_size must be positive")
    return method, spec


class _Context:
    """What both phases share: data, tokenizer, device, callback, checkpoints, timings."""

    def __init__(self, cfg: TrialConfig, spec: TaskSpec, callback: Callback) -> None:
        self.cfg, self.spec, self.callback = cfg, spec, callback
        self.timings = Timings()
        self.device = pick_device(cfg.device)
        self.threads = set_threads(cfg.num_threads)
        self.checkpointer = Checkpointer(cfg.checkpoint_dir, cfg.checkpoint_every)
        self.cache = EncodeCache(cfg.cache_dir)
        with self.timings.measure("data"):
            splits = make_splits(load_task(spec.name, cfg.data_dir), spec, cfg.seed)
            self.splits: Splits = cap_splits(
                splits, cfg.seed, cfg.max_train_examples, cfg.max_eval_examples
            )
        self.tokenizer: Any = None
        self.seq2seq = False

    def load(self) -> torch.nn.Module:
        with self.timings.measure("model_load"):
            backbone, self.tokenizer = load_backbone(self.cfg.model)
        self.seq2seq = is_seq2seq(backbone.config)
        return backbone

    def encode(self, examples: list[Example], split: str) -> dict[str, torch.Tensor]:
        """Encoded tensors of ``examples``, from the sweep's cache when it has them."""
        encoder = encode_for_t5 if self.seq2seq else encode_for_encoder
        with self.timings.measure("data"):
            return self.cache.encode(
                lambda rows: encoder(self.spec, rows, self.tokenizer, self.cfg.max_length),
                examples,
                split=split,
                encoder_kind="t5" if self.seq2seq else "encoder",
                task=self.spec.name,
                max_length=self.cfg.max_length,
                tokenizer=self.tokenizer,
            )

    def evaluator(self, model: TaskModel, examples: list[Example], split: str) -> Callable[[], Any]:
        encoded = self.encode(examples, split)

        def run() -> Any:
            with self.timings.measure("evaluation"):
                return evaluate(
                    model, encoded, examples, self.cfg.eval_batch_size, self.device, self.tokenizer
                )

        return run

    def dev_for(self, phase: str) -> tuple[list[Example], str]:
        """The dev examples a phase selects on: a seeded subset during search if configured."""
        limit = self.cfg.search_eval_examples if phase == "search" else None
        if limit is None or limit >= len(self.splits.dev):
            return self.splits.dev, "dev"
        return cap_examples(self.splits.dev, limit, self.cfg.seed), f"dev-{limit}"

    def phase(
        self,
        name: str,
        model: TaskModel,
        optimizer: torch.optim.Optimizer,
        steps: int,
        stream: BatchStream,
        **extra: Any,
    ) -> Phase:
        """A phase that steps ``optimizer`` under linear decay, selecting on the dev half;
        both phases share evaluation, clipping, selection, progress and checkpoints."""
        dev, dev_name = self.dev_for(name)
        return Phase(
            name,
            model,
            [optimizer],
            [linear_decay(optimizer, steps)],
            stream,
            steps,
            self.cfg.eval_every,
            self.evaluator(model, dev, dev_name),
            self.device,
            self.cfg.grad_clip,
            self.cfg.select_on,
            self.callback,
            self.checkpointer,
            timings=self.timings,
            **extra,
        )


def _search(ctx: _Context, backbone: torch.nn.Module, budget: int) -> dict[str, Any]:
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
    model = TaskModel(backbone, ctx.spec, ctx.seq2seq, cfg.pooling, cfg.precision)
    net = GatedSupernet(
        backbone,
        cands,
        budget,
        cfg.beta,
        cfg.rescale,
        cfg.gradient_projection,
        cfg.lora_scale,
        seed=cfg.seed,
    )
    net.gates.temperature = cfg.gate_temperature
    model.attach_deltas(net)
    model.to(ctx.device)
    order = list(range(len(ctx.splits.train)))
    random.Random(cfg.seed).shuffle(order)
    half = len(order) // 2
    w_half = [ctx.splits.train[i] for i in sorted(order[:half])]
    a_half = [ctx.splits.train[i] for i in sorted(order[half:])]
    groups = delta_param_groups(net.delta_set, cfg.delta_lr, cfg.kind_lr) + head_group(
        model.head, cfg.head_lr
    )
    w_opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    a_opt = torch.optim.AdamW([net.gates.alpha], lr=cfg.structure_lr, weight_decay=0.0)
    a_sched = linear_decay(a_opt, cfg.search_steps - cfg.alpha_warmup_steps)
    w_stream = BatchStream(ctx.encode(w_half, "train-w-half"), cfg.batch_size, cfg.seed)
    a_stream = BatchStream(ctx.encode(a_half, "train-alpha-half"), cfg.batch_size, cfg.seed + 1)
    w_params = [p for g in groups for p in g["params"]]
    alpha_step = make_alpha_step(
        model,
        net.gates.alpha,
        w_params,
        a_opt,
        a_sched,
        a_stream,
        w_stream,
        ctx.device,
        cfg.darts_order,
        cfg.grad_clip,
        lambda: w_opt.param_groups[0]["lr"],
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
    )
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
    net.remove()
    done = {
        "search_diagnostics": diagnostics,
        "chosen": [c.name for c in chosen],
        "probabilities": probabilities,
        "trajectory": outcome.trajectory,
        "search_dev": outcome.best_metrics,
        "search_dev_score": outcome.best_score,
        "search_best_step": outcome.best_step,
        "search_seconds": outcome.seconds,
    }
    with ctx.timings.measure("checkpoints"):
        ctx.checkpointer.save_json("search_done", done)
    return done


def _structure_for(
    ctx: _Context, method: Method, backbone: torch.nn.Module
) -> tuple[Structure | None, dict[str, Any]]:
    cfg = ctx.cfg
    info: dict[str, Any] = {}
    n_backbone = backbone_params(backbone)
    if method.family == "finetune":
        return None, info
    if method.family == "manual":
        if method.structure_path is not None:
            return Structure.load(method.structure_path), info
        return manual_structure(method.manual or "", backbone, cfg.model, cfg.adapter_width), info
    cands = find_candidates(backbone, cfg.space)
    budget = parse_budget(cfg.budget).resolve(n_backbone, min(c.size for c in cands))
    if method.family == "random":
        chosen = random_select(cands, budget, cfg.seed)
    else:
        info = _search(ctx, backbone, budget)
        by_name = {c.name: c for c in cands}
        chosen = [by_name[n] for n in info["chosen"]]
    meta = {"method": method.name, "task": cfg.task, "seed": cfg.seed, "budget_text": cfg.budget}
    return structure_from_candidates(chosen, cfg.model, n_backbone, budget, cfg.space, meta), info


def _retrain(ctx: _Context, structure: Structure | None) -> tuple[TaskModel, Any, Any]:
    cfg = ctx.cfg
    backbone = ctx.load()  # a fresh backbone: retraining starts from scratch (spec section 4)
    seed_everything(cfg.seed)
    model = TaskModel(backbone, ctx.spec, ctx.seq2seq, cfg.pooling, cfg.precision)
    if structure is not None:
        deltas = apply_structure(backbone, structure, cfg.lora_scale)
        model.attach_deltas(deltas)
        groups = delta_param_groups(deltas, cfg.delta_lr, cfg.kind_lr)
    else:
        groups = [
            {"params": list(backbone.parameters()), "lr": cfg.finetune_lr, "name": "backbone"}
        ]
    groups += head_group(model.head, cfg.head_lr)
    model.to(ctx.device)
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    stream = BatchStream(ctx.encode(ctx.splits.train, "train"), cfg.batch_size, cfg.seed + 2)
    phase = ctx.phase("retrain", model, opt, cfg.retrain_steps, stream)
    outcome, _ = phase.run()
    test = ctx.evaluator(model, ctx.splits.test, "test")()
    return model, outcome, test


def _write_artifacts(
    out: Path,
    model: TaskModel,
    structure: Structure | None,
    info: dict[str, Any],
    lora_scale: float,
) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    if structure is not None:
        files["structure.json"] = str(structure.save(out / "structure.json"))
        deltas = model.deltas
        assert isinstance(deltas, DeltaSet)
        head = {} if model.head is None else dict(model.head.state_dict())
        fingerprint = backbone_fingerprint(model.backbone)
        files["delta.safetensors"] = str(
            save_delta(
                out / "delta.safetensors",
                deltas.named_tensors(),
                structure,  # type: ignore[operator]
                fingerprint,
                head=head,
                extra={
                    "pooling": model.pooling,
                    "task": model.spec.name,
                    "lora_scale": str(lora_scale),
                },
            )
        )
    if info.get("probabilities"):
        path = out / "probabilities.json"
        path.write_text(json.dumps(info["probabilities"], indent=2))
        files["probabilities.json"] = str(path)
        if structure is not None:  # where each candidate sits, for readers of p
            from search_space.positions import candidate_records, find_candidates

            cands = find_candidates(model.backbone, structure.space)
            records = candidate_records([c for c in cands if c.name in info["probabilities"]])
            path = out / "candidates.json"
            path.write_text(json.dumps(records, indent=1))
            files["candidates.json"] = str(path)
    return files


def _steps_from_epochs(cfg: TrialConfig, n_train: int) -> TrialConfig:
    """Turn search/retrain epochs into steps now that the training split's size is known."""
    update: dict[str, int] = {}
    if cfg.retrain_epochs is not None:
        update["retrain_steps"] = max(1, math.ceil(cfg.retrain_epochs * n_train / cfg.batch_size))
    if cfg.search_epochs is not None:
        half = n_train // 2
        update["search_steps"] = max(1, math.ceil(cfg.search_epochs * half / cfg.batch_size))
    if not update:
        return cfg
    resolved = cfg.model_copy(update=update)
    if not 0 <= resolved.alpha_warmup_steps < resolved.search_steps:
        raise TrialSetupError(
            f"alpha_warmup_steps={resolved.alpha_warmup_steps} must be below the "
            f"{resolved.search_steps} search steps that search_epochs={cfg.search_epochs} gives"
        )
    return resolved


def run_trial(cfg: TrialConfig, callback: Callback = None) -> TrialResult:
    """Run one trial to the end (resuming from ``cfg.checkpoint_dir`` if it holds a checkpoint)."""
    started = time.perf_counter()
    method, spec = _check(cfg)
    ctx = _Context(cfg, spec, callback)
    cfg = ctx.cfg = _steps_from_epochs(cfg, len(ctx.splits.train))
    backbone = ctx.load()
    n_backbone = backbone_params(backbone)
    structure, info = _structure_for(ctx, method, backbone)
    del backbone
    model, outcome, (test_metrics, test_score, _) = _retrain(ctx, structure)
    out = (
        Path(cfg.output_dir) if cfg.output_dir else Path(tempfile.mkdtemp(prefix="s3delta-trial-"))
    )
    artifacts = _write_artifacts(out, model, structure, info, cfg.lora_scale)
    delta_params = structure.total_size if structure is not None else n_backbone
    result = TrialResult(
        config=cfg.model_dump(),
        structure=structure.to_dict() if structure is not None else None,
        probabilities=info.get("probabilities"),
        expected_size_trajectory=[(int(s), float(v)) for s, v in info.get("trajectory", [])],
        search_dev=dict(info.get("search_dev", {})),
        search_diagnostics=dict(info.get("search_diagnostics", {})),
        dev=outcome.best_metrics,
        test=test_metrics,
        dev_score=outcome.best_score,
        test_score=test_score,
        delta_params=delta_params,
        head_params=model.head_params(),
        backbone_params=n_backbone,
        budget_params=structure.budget if structure is not None else None,
        split_sizes=dict(ctx.splits.sizes),
        wall_time_s=time.perf_counter() - started,
        device=str(ctx.device),
        artifacts=artifacts,
        timings=ctx.timings.summary(time.perf_counter() - started),
    )
    result.config["protocol"] = ctx.splits.protocol
    result.config["threads"] = ctx.threads
    return result


def result_to_dict(result: TrialResult) -> dict[str, Any]:
    """A JSON-safe dict (what an actor returns across processes)."""
    data = asdict(result)
    data["budget_fraction"] = result.budget_fraction
    return data


class TrialActor:
    """A plain class a Ray actor can host: ``ray.remote(num_cpus=..)(TrialActor).remote()``."""

    def run(self, cfg: dict[str, Any], callback: Callback = None) -> dict[str, Any]:
        return result_to_dict(run_trial(TrialConfig(**cfg), callback))
