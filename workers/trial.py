"""One trial: load a task, build the model, run a method at a budget and a seed, score it.

`run_trial` is a plain function (config in, result out) that the runner calls inside a
Ray task; it imports neither Ray nor MLflow. The method (`workers.methods`: s3delta,
random, manual/<name>, finetune, ...) gives the structure and what retraining trains;
every method is then retrained from scratch on the full train set, selected on dev and
scored on test the same way (spec sections 3-5).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from search_space import (
    DeltaSet,
    Structure,
    backbone_fingerprint,
    backbone_params,
    parse_budget,
    save_delta,
)
from workers.batch_stream import BatchStream
from workers.cost import CostMeter
from workers.data import TaskSpec, get_task
from workers.methods import Method, parse_method
from workers.optim import head_group
from workers.runtime import seed_everything
from workers.task_model import TaskModel
from workers.trial_context import Callback, TrialContext
from workers.trial_types import TrialConfig, TrialResult


class TrialSetupError(ValueError):
    """A trial config that cannot run; raised before any model or data is loaded."""


def _check(cfg: TrialConfig) -> tuple[Method, TaskSpec]:
    method = parse_method(cfg.method)
    spec = get_task(cfg.task)
    if method.uses_budget:
        if cfg.budget is None:
            raise TrialSetupError(f"method {cfg.method!r} needs a budget: set budget, e.g. '0.01%'")
        parse_budget(cfg.budget)
    problem = method.spec.check(cfg)
    if problem:
        raise TrialSetupError(problem)
    if cfg.structure_updates is not None:
        if cfg.structure_updates <= 0:
            raise TrialSetupError(
                f"structure_updates={cfg.structure_updates} must be positive, e.g. 1700"
            )
        if cfg.search_epochs is not None:
            raise TrialSetupError(
                "structure_updates and search_epochs both set the search's length: keep one of them"
            )
    for name in ("search_epochs", "retrain_epochs"):
        value = getattr(cfg, name)
        if value is not None and not (0 < value < 10_000):
            raise TrialSetupError(f"{name}={value} must be positive and finite, e.g. 10")
    if (
        cfg.search_epochs is None
        and cfg.structure_updates is None
        and not 0 <= cfg.alpha_warmup_steps < max(cfg.search_steps, 1)
    ):
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


def _retrain(
    ctx: TrialContext, method: Method, structure: Structure | None
) -> tuple[TaskModel, Any, Any]:
    cfg = ctx.cfg
    backbone = ctx.load()  # a fresh backbone: retraining starts from scratch (spec section 4)
    seed_everything(cfg.seed)
    model = TaskModel(
        backbone, ctx.spec, ctx.seq2seq, cfg.pooling, cfg.precision, pack_tokens=cfg.pack_tokens
    )
    groups = method.spec.trainable(ctx, model, backbone, structure)
    groups += head_group(model.head, cfg.head_lr)
    model.to(ctx.device)
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    stream = BatchStream(ctx.encode(ctx.splits.train, "train"), cfg.batch_size, cfg.seed + 2)
    options = method.spec.retrain_options(ctx, model)
    phase = ctx.phase("retrain", model, opt, cfg.retrain_steps, stream, **options)
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
    for name, write in (info.get("artifact_writers") or {}).items():  # e.g. random-mask's file
        files[name] = str(write(out / name))
    for name, data in (info.get("json_artifacts") or {}).items():  # e.g. a search's logits
        path = out / name
        path.write_text(json.dumps(data, indent=1))
        files[name] = str(path)
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
    if cfg.structure_updates is not None:
        update["search_steps"] = cfg.structure_updates + cfg.alpha_warmup_steps
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
    meter = CostMeter()
    method, spec = _check(cfg)
    ctx = TrialContext(cfg, spec, callback)
    meter.use_device(ctx.device)
    cfg = ctx.cfg = _steps_from_epochs(cfg, len(ctx.splits.train))
    backbone = ctx.load()
    n_backbone = backbone_params(backbone)
    structure, info = method.spec.structure(ctx, method, backbone)
    del backbone
    model, outcome, (test_metrics, test_score, _) = _retrain(ctx, method, structure)
    method.spec.after_retrain(ctx, model, structure, info)
    out = (
        Path(cfg.output_dir) if cfg.output_dir else Path(tempfile.mkdtemp(prefix="s3delta-trial-"))
    )
    artifacts = _write_artifacts(out, model, structure, info, cfg.lora_scale)
    delta_params = info.get("delta_params") or (
        structure.total_size if structure is not None else n_backbone
    )
    budget_params = info.get("budget_params") or (
        structure.budget if structure is not None else None
    )
    timings = ctx.timings.summary(time.perf_counter() - started)
    result = TrialResult(
        config=cfg.model_dump(),
        structure=structure.to_dict() if structure is not None else None,
        probabilities=info.get("probabilities"),
        expected_size_trajectory=[(int(s), float(v)) for s, v in info.get("trajectory", [])],
        search_dev=dict(info.get("search_dev", {})),
        search_diagnostics=dict(info.get("search_diagnostics", {})),
        records=dict(info.get("records", {})),
        dev=outcome.best_metrics,
        test=test_metrics,
        dev_score=outcome.best_score,
        test_score=test_score,
        delta_params=delta_params,
        head_params=model.head_params(),
        backbone_params=n_backbone,
        budget_params=budget_params,
        split_sizes=dict(ctx.splits.sizes),
        wall_time_s=time.perf_counter() - started,
        device=str(ctx.device),
        artifacts=artifacts,
        timings=timings,
        cost=meter.finish(timings, ctx.timings.cpu_seconds),
    )
    result.config["protocol"] = ctx.splits.protocol
    result.config["threads"] = ctx.threads
    return result


def result_to_dict(result: TrialResult) -> dict[str, Any]:
    """A JSON-safe dict (what an actor returns across processes)."""
    data = asdict(result)
    data["budget_fraction"] = result.budget_fraction
    return data
