"""``peft/adalora``: PEFT's AdaLoRA at the budget, the baseline a PEFT user would pick instead.

AdaLoRA (Zhang et al. 2023) trains SVD-form LoRA triplets (a row of A, a singular value
in E, a column of B) on the attention query and value projections (PEFT's default for
BERT-like models) and prunes the least important triplets during training until a
target number remains. Its final trainable delta is those triplets: each costs
``in + out + 1`` parameters on its Linear.

Budget: PEFT's own knob is ``target_r``, an average rank per module, so its final size
moves in steps of (number of modules) triplets, 12 x 769 = 9,228 parameters on MiniLM:
coarser than the budgets this project compares at (0.01% of MiniLM is 2,271). The
allocator's budget is a count of triplets (``RankAllocator.target_bgt`` =
target_r x modules); it is set here to the largest count whose parameters fit the budget,
so the granularity is one triplet. Tolerance (documented and tested): the final size is
within one triplet below the budget, ``budget - (in + out + 1) < size <= budget``
(strictly fewer only if importance scores tie at the pruning threshold). A budget
smaller than one triplet is refused. ``target_r`` is recorded as the nearest whole rank.

Schedule (PEFT's three phases over the retraining steps T): ``tinit = T // 10`` steps at
the initial rank, cubic pruning until ``T - tfinal`` with ``tfinal = max(1, T // 5)``,
then the final ranks are fixed and trained. Training, selection and evaluation are the
other methods' (`workers.trial`), with two differences AdaLoRA needs: the orthogonal
regularisation of A and B (PEFT's ``orth_reg_weight``, 0.5) is added to the loss, and
best-dev selection only considers evaluations after the final ranks are fixed (an earlier
checkpoint holds more triplets than the budget). The importance statistics are not
checkpointed: a resumed AdaLoRA trial re-estimates them from where it resumed (its final
ranks, once fixed, are read back from the checkpointed singular values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workers.methods.base import DELTA_FIELDS, Found, Method, MethodSpec, UnknownMethodError

if TYPE_CHECKING:
    import torch

    from search_space import Structure
    from workers.task_model import TaskModel
    from workers.trial_context import TrialContext
    from workers.trial_types import TrialConfig

TARGET_MODULES = ("query", "value")  # PEFT's AdaLoRA default for BERT-like models
INIT_R = 12  # PEFT's default initial rank
ORTH_REG_WEIGHT = 0.5  # PEFT's default
ADAPTER = "default"


class AdaLoraBudgetError(ValueError):
    """A budget AdaLoRA cannot be held to (smaller than one triplet)."""


@dataclass(frozen=True)
class AdaLoraPlan:
    """How AdaLoRA is set up for one budget: its schedule and triplet counts."""

    budget: int
    n_modules: int
    triplet_cost: int  # parameters of one (A row, E value, B column) triplet, the largest
    target_triplets: int
    init_r: int
    total_step: int
    tinit: int
    tfinal: int

    @property
    def target_r(self) -> int:
        return max(1, round(self.target_triplets / self.n_modules))

    @property
    def final_step(self) -> int:
        """The step at which the final ranks are fixed (selection starts there)."""
        return self.total_step - self.tfinal


def adalora_plan(triplet_costs: list[int], budget: int, steps: int) -> AdaLoraPlan:
    """The plan for modules whose triplets cost ``triplet_costs`` under ``budget`` (params)."""
    if not triplet_costs:
        raise AdaLoraBudgetError(
            f"no {'/'.join(TARGET_MODULES)} Linear in this backbone; peft/adalora needs them"
        )
    cost = max(triplet_costs)
    target = budget // cost
    if target < 1:
        raise AdaLoraBudgetError(
            f"budget {budget} parameters is smaller than one AdaLoRA triplet ({cost} "
            f"parameters on {'/'.join(TARGET_MODULES)}); raise the budget to at least {cost}"
        )
    n = len(triplet_costs)
    init_r = max(INIT_R, -(-3 * target // (2 * n)))  # room to prune: 1.5 x the target
    tfinal = max(1, steps // 5)
    return AdaLoraPlan(budget, n, cost, target, init_r, steps, steps // 10, tfinal)


@dataclass
class AdaLoraRun:
    """The live AdaLoRA of one retraining: steps the allocator, adds the regulariser."""

    tuner: Any  # peft AdaLoraModel wrapping the backbone in place
    plan: AdaLoraPlan
    step: int = 0
    sizes: dict[str, int] = field(default_factory=dict)  # module path -> in + out + 1

    def set_step(self, step: int) -> dict[str, float]:
        """Before the step's forward pass: note the step (and, resumed past the final step,
        the final ranks: PEFT keeps its rank pattern only in memory, a checkpoint holds it
        as the zeroed singular values, read here before an optimiser step moves them)."""
        self.step = step
        config = self.tuner.peft_config[ADAPTER]
        if step > self.plan.final_step and config.rank_pattern is None:
            config.rank_pattern = self.pattern()
        return {}

    def allocate(self) -> dict[str, float]:
        """After the optimiser step, before the next zero_grad (as PEFT asks)."""
        self.tuner.update_and_allocate(self.step)
        return {"adalora_triplets": float(self.kept_triplets())}

    def orth_reg(self) -> torch.Tensor:
        """PEFT's orthogonal regularisation of A and B (its AdaLoraModel.forward adds it
        only to a loss the wrapped model computes; our head computes the loss)."""
        import torch

        total, count = torch.zeros(()), 0
        for name, p in self.tuner.model.named_parameters():
            if ("lora_A" in name or "lora_B" in name) and ADAPTER in name:
                cov = p @ p.T if "lora_A" in name else p.T @ p
                eye = torch.eye(*cov.size(), device=cov.device, dtype=cov.dtype)
                total = total.to(cov.device) + torch.norm(cov - eye, p="fro")
                count += 1
        return total / max(count, 1)

    def pattern(self) -> dict[str, list[bool]]:
        """PEFT's rank pattern (kept triplets per lora_E parameter) read off the weights."""
        return {
            name: (p.detach() != 0).view(-1).tolist()
            for name, p in self.tuner.model.named_parameters()
            if f"lora_E.{ADAPTER}" in name
        }

    def kept(self) -> dict[str, int]:
        """Triplets per module with a non-zero singular value (the final ranks, once fixed)."""
        out = {}
        for name, p in self.tuner.model.named_parameters():
            if f"lora_E.{ADAPTER}" in name:
                path = name.split(".lora_E")[0]
                out[path] = int((p.detach() != 0).sum())
        return out

    def kept_triplets(self) -> int:
        return sum(self.kept().values())

    def size(self) -> int:
        return sum(n * self.sizes[path] for path, n in self.kept().items())


class PeftAdaLora(MethodSpec):
    family = "peft"
    takes_arg = True
    uses_budget = True
    fields = DELTA_FIELDS

    @property
    def spelling(self) -> str:
        return "'peft/adalora'"

    def parse_arg(self, name: str, arg: str, check_files: bool, help_text: str) -> Method:
        if arg == "adalora":
            return Method(self, name, arg)
        raise UnknownMethodError(f"unknown method {name!r}: {help_text}")

    def check(self, cfg: TrialConfig) -> str | None:
        if cfg.retrain_epochs is None and cfg.retrain_steps < 2:
            return "retrain_steps must be at least 2 for peft/adalora (it prunes, then trains)"
        return None

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        return None, {}

    def trainable(
        self,
        ctx: TrialContext,
        model: TaskModel,
        backbone: torch.nn.Module,
        structure: Structure | None,
    ) -> list[dict[str, Any]]:
        from peft import AdaLoraConfig
        from peft.tuners.adalora import AdaLoraModel
        from torch import nn

        from search_space import backbone_params, parse_budget

        cfg = ctx.cfg
        budget = parse_budget(cfg.budget).resolve(backbone_params(backbone))
        targets = {
            path: module.in_features + module.out_features + 1
            for path, module in backbone.named_modules()
            if isinstance(module, nn.Linear) and path.rsplit(".", 1)[-1] in TARGET_MODULES
        }
        plan = adalora_plan(list(targets.values()), budget, cfg.retrain_steps)
        config = AdaLoraConfig(
            init_r=plan.init_r,
            target_r=plan.target_r,
            tinit=plan.tinit,
            tfinal=plan.tfinal,
            deltaT=1,
            total_step=plan.total_step,
            orth_reg_weight=ORTH_REG_WEIGHT,
            target_modules=list(TARGET_MODULES),
            lora_dropout=0.0,
        )
        tuner = AdaLoraModel(backbone, config, ADAPTER)
        tuner.rankallocator.target_bgt = plan.target_triplets  # one-triplet granularity
        run = AdaLoraRun(tuner, plan, sizes=targets)
        model.method_state = run  # type: ignore[assignment]
        base_loss = model.loss
        model.loss = lambda batch: base_loss(batch) + ORTH_REG_WEIGHT * run.orth_reg()  # type: ignore[method-assign]
        params = [p for n, p in backbone.named_parameters() if "lora_" in n and p.requires_grad]
        return [{"params": params, "lr": cfg.delta_lr, "name": "adalora"}]

    def retrain_options(self, ctx: TrialContext, model: TaskModel) -> dict[str, Any]:
        run: AdaLoraRun = model.method_state  # type: ignore[assignment]
        return {
            "before_step": run.set_step,
            "step_metrics": run.allocate,
            "select_from": run.plan.final_step,
        }

    def after_retrain(
        self,
        ctx: TrialContext,
        model: TaskModel,
        structure: Structure | None,
        info: dict[str, Any],
    ) -> None:
        run: AdaLoraRun = model.method_state  # type: ignore[assignment]
        plan = run.plan
        info["delta_params"] = run.size()
        info["budget_params"] = plan.budget
        info["json_artifacts"] = {
            "adalora.json": {
                "budget": plan.budget,
                "final_size": run.size(),
                "target_triplets": plan.target_triplets,
                "kept_triplets": run.kept_triplets(),
                "triplet_cost": plan.triplet_cost,
                "target_r": plan.target_r,
                "init_r": plan.init_r,
                "schedule": {"tinit": plan.tinit, "tfinal": plan.tfinal, "total": plan.total_step},
                "ranks": run.kept(),
                "initial_size": plan.init_r * sum(run.sizes.values()),
            }
        }
