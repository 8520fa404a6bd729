"""The method protocol: everything the trial, the sweep and its plan need to know about a method.

A method is named in a sweep's ``methods:`` list (and in `TrialConfig.method`) as
``<family>`` or, when it takes an argument, ``<family>/<argument>`` (``manual/lnfit``,
``manual/path/to/structure.json``). One `MethodSpec` subclass per family, in its own file,
says:

- how the name is spelled and parsed (`takes_arg`, `parse_arg`, `spelling`);
- whether it searches under a parameter budget (`uses_budget`): budgeted methods get one
  sweep cell per budget, the others one cell per task at their own natural size;
- which method-specific fields it uses (`fields`): a field that some registered method
  lists is tuned only in the cells of methods that list it, so Optuna spends no trials
  on a dimension that cannot change a score (e.g. ``structure_lr`` for a LoRA baseline);
  fields no method lists (learning rate of the head, steps, ...) apply to every method;
- what it checks in a trial config before any work (`check`);
- how it produces its structure (`structure`) and which parameters retraining trains
  (`trainable`), with any per-step hooks of the retraining (`retrain_options`) and sizes
  known only after it (`after_retrain`); every method is then retrained and scored the
  same way.

Why torch-free at import: the sweep validator parses method names, and that must not
load torch, so the methods import the training code inside `structure`/`trainable`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch

    from search_space import Structure
    from workers.task_model import TaskModel
    from workers.trial_context import TrialContext
    from workers.trial_types import TrialConfig

# fields only the structure search reads
SEARCH_PHASE_FIELDS = frozenset(
    {
        "search_steps",
        "structure_updates",
        "structure_lr",
        "beta",
        "darts_order",
        "rescale",
        "gradient_projection",
        "gate_temperature",
        "gate_temperature_final",
        "alpha_warmup_steps",
        "search_epochs",
        "search_eval_examples",
        "search_fittable_only",
        "search_discrete_eval",
    }
)
# fields of methods that train delta modules on a frozen backbone
DELTA_FIELDS = frozenset({"delta_lr", "lora_scale", "adapter_width"})
# fields of methods that train the backbone itself
FINETUNE_FIELDS = frozenset({"finetune_lr"})

# a method's structure and what it found on the way (probabilities, trajectory, ...;
# the keys `workers.trial.run_trial` reads into `TrialResult`); structure None = no deltas
Found = tuple["Structure | None", dict[str, Any]]


class UnknownMethodError(ValueError):
    """A method name that is not one of the registered methods."""


@dataclass(frozen=True)
class Method:
    """A parsed method name: its spec, the full name, and the argument after ``<family>/``."""

    spec: MethodSpec
    name: str
    arg: str | None = None

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def uses_budget(self) -> bool:
        return self.spec.uses_budget


class MethodSpec(ABC):
    """One family of methods; subclass it in one file and register an instance."""

    family: ClassVar[str]
    uses_budget: ClassVar[bool] = False
    takes_arg: ClassVar[bool] = False  # named ``<family>/<argument>``, never bare
    fields: ClassVar[frozenset[str]] = DELTA_FIELDS
    # one run's structure re-solves at other budgets (a sweep's one_search_budget: the
    # method runs at one budget, its trials at the others read that run's logits.json)
    one_search: ClassVar[bool] = False
    # its argument names a task of the sweep whose s3delta structures it retrains, seed by
    # seed at the same budget (transfer/<task>)
    transfers: ClassVar[bool] = False

    @property
    def spelling(self) -> str:
        """How the method is written, for error messages listing every method."""
        return f"'{self.family}/<argument>'" if self.takes_arg else f"'{self.family}'"

    def parse_arg(self, name: str, arg: str, check_files: bool, help_text: str) -> Method:
        """The method ``<family>/<arg>``; raise `UnknownMethodError` for a bad argument.

        ``check_files``: whether files the argument names must exist now (not when a sweep
        is checked before its paths are resolved). ``help_text`` lists every method."""
        raise UnknownMethodError(f"unknown method {name!r}: {help_text}")

    def structure_file(self, arg: str) -> str | None:
        """The structure file the argument names, or None (``manual/<file>.json``): the
        sweep resolves it against the sweep file's folder and checks it before any trial."""
        return None

    def check(self, cfg: TrialConfig) -> str | None:
        """What makes ``cfg`` unrunnable for this method (``<what>; <fix>``), or None."""
        return None

    @abstractmethod
    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        """The structure to retrain on ``backbone`` (a fresh pretrained copy), and info."""

    def trainable(
        self,
        ctx: TrialContext,
        model: TaskModel,
        backbone: torch.nn.Module,
        structure: Structure | None,
    ) -> list[dict[str, Any]]:
        """Optimizer parameter groups of the retraining (the head's group is added after):
        by default the deltas of ``structure``, applied to ``backbone`` and attached."""
        from search_space import apply_structure
        from workers.optim import delta_param_groups

        assert structure is not None, f"method {self.family!r} produced no structure"
        cfg = ctx.cfg
        deltas = apply_structure(backbone, structure, cfg.lora_scale)
        model.attach_deltas(deltas)
        return delta_param_groups(deltas, cfg.delta_lr, cfg.kind_lr)

    def retrain_options(self, ctx: TrialContext, model: TaskModel) -> dict[str, Any]:
        """Extra `workers.phase.Phase` settings of the retraining (after `trainable`): hooks
        a method needs each step (AdaLoRA's rank allocation), where selection may start."""
        return {}

    def after_retrain(
        self,
        ctx: TrialContext,
        model: TaskModel,
        structure: Structure | None,
        info: dict[str, Any],
    ) -> None:
        """After retraining, before results are written: a method whose size is only known
        now (AdaLoRA's final ranks) sets ``info["delta_params"]``/``["budget_params"]``
        (and may add ``info["json_artifacts"]``); by default the structure's sizes count."""
        return None
