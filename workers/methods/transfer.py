"""``transfer/<task>``: retrain a structure searched on another task (spec: structures transfer).

In a sweep, the cell (target task, ``transfer/<source task>``, budget) retrains, for each
seed, exactly the structure of the s3delta final run of (source task, budget, same seed)
(the runner sets ``structure_from`` to that run's ``structure.json``; see
`orchestrator.sweep.transfer`). It is then trained, selected and scored on the target
task like every other method, so it compares with the target's own search and with
random at the same budget and seeds. Outside a sweep, set ``structure_from`` yourself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workers.methods.base import DELTA_FIELDS, Found, Method, MethodSpec, UnknownMethodError

if TYPE_CHECKING:
    import torch

    from workers.trial_context import TrialContext
    from workers.trial_types import TrialConfig


class TransferError(ValueError):
    """A source structure that cannot be retrained here; the message says why."""


class Transfer(MethodSpec):
    family = "transfer"
    takes_arg = True
    uses_budget = True
    fields = DELTA_FIELDS
    transfers = True

    @property
    def spelling(self) -> str:
        return "'transfer/<source task>' (e.g. transfer/glue/rte)"

    def parse_arg(self, name: str, arg: str, check_files: bool, help_text: str) -> Method:
        from workers.data.tasks import UnknownTaskError, get_task

        try:
            get_task(arg)
        except UnknownTaskError as err:
            raise UnknownMethodError(f"method {name!r}: {err}") from None
        return Method(self, name, arg)

    def check(self, cfg: TrialConfig) -> str | None:
        if not cfg.structure_from:
            return (
                f"{cfg.method} retrains the structure searched on its source task: run it in a "
                "sweep whose tasks include that task and whose methods include s3delta, or set "
                "structure_from to a structure.json"
            )
        return None

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        from search_space import Structure, backbone_params, parse_budget

        cfg = ctx.cfg
        path = Path(cfg.structure_from or "")
        if not path.is_file():
            raise TransferError(
                f"structure_from: {str(path)!r} does not exist; the source task's s3delta run "
                "must finish first"
            )
        structure = Structure.load(path)
        budget = parse_budget(cfg.budget).resolve(backbone_params(backbone))
        if structure.total_size > budget:
            raise TransferError(
                f"structure_from: {str(path)!r} holds {structure.total_size} parameters, over "
                f"this trial's budget of {budget}; transfer a structure searched at this budget"
            )
        meta = dict(structure.meta)
        meta["transfer"] = {"source_task": str(meta.get("task")), "target_task": cfg.task}
        meta.update({"method": method.name, "task": cfg.task, "seed": cfg.seed})
        moved = Structure(
            structure.entries,
            structure.backbone,
            structure.backbone_params,
            budget,
            structure.space,
            meta,
        )
        return moved, {}
