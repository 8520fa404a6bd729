"""``peft-lora/<structure.json>``: PEFT's LoRA with the ranks of a searched LoRA-only structure.

The export path users ask PEFT for: a structure searched in space L (LoRA only) becomes a
`peft.LoraConfig` with one target module per entry and its rank in ``rank_pattern``
(alpha = lora_scale x rank, so PEFT's scaling alpha / r equals our LoRA's scale, as
`search_space.peft_export` writes it). It is trained from scratch by PEFT's own LoRA
layers under the same protocol as ``manual/<structure.json>`` (which retrains the same
structure with s3delta's LoRA), so the two compare the same ranks in two implementations.
Its size is the structure's (LoRA's A and B: rank x (in + out) per module, as ours).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.methods.base import DELTA_FIELDS, Found, Method, MethodSpec, UnknownMethodError

if TYPE_CHECKING:
    import torch

    from search_space import Structure
    from workers.task_model import TaskModel
    from workers.trial_context import TrialContext

ADAPTER = "default"


class NotLoraOnlyError(ValueError):
    """A structure with entries PEFT's LoRA cannot train (anything but LoRA)."""


class PeftLora(MethodSpec):
    family = "peft-lora"
    takes_arg = True
    fields = DELTA_FIELDS

    @property
    def spelling(self) -> str:
        return "'peft-lora/<path to a LoRA-only structure .json>'"

    def structure_file(self, arg: str) -> str | None:
        return arg if arg.endswith(".json") else None

    def parse_arg(self, name: str, arg: str, check_files: bool, help_text: str) -> Method:
        if not arg.endswith(".json"):
            raise UnknownMethodError(f"unknown method {name!r}: {help_text}")
        if check_files and not Path(arg).is_file():
            raise UnknownMethodError(
                f"method {name!r}: structure file {arg!r} does not exist; give a LoRA-only "
                "structure JSON (e.g. `s3delta best` of a sweep in space L)"
            )
        return Method(self, name, arg)

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        # no s3delta deltas are applied (PEFT's layers are, in `trainable`), so no structure
        # is returned; the file is read and checked here, before any training
        lora_structure(method)
        return None, {}

    def trainable(
        self,
        ctx: TrialContext,
        model: TaskModel,
        backbone: torch.nn.Module,
        structure: Structure | None,
    ) -> list[dict[str, Any]]:
        from peft import LoraConfig
        from peft.tuners.lora import LoraModel

        from workers.methods import parse_method

        ranks = lora_ranks(lora_structure(parse_method(ctx.cfg.method)))
        scale = ctx.cfg.lora_scale
        first = sorted(ranks)[0]
        config = LoraConfig(
            r=ranks[first],
            lora_alpha=scale * ranks[first],  # type: ignore[arg-type]
            target_modules=sorted(ranks),
            rank_pattern={re.escape(p): r for p, r in ranks.items()},
            alpha_pattern={re.escape(p): scale * r for p, r in ranks.items()},
            lora_dropout=0.0,
            bias="none",
        )
        LoraModel(backbone, config, ADAPTER)  # injects PEFT's LoRA layers in place
        params = [p for n, p in backbone.named_parameters() if "lora_" in n and p.requires_grad]
        return [{"params": params, "lr": ctx.cfg.delta_lr, "name": "peft_lora"}]

    def after_retrain(
        self,
        ctx: TrialContext,
        model: TaskModel,
        structure: Structure | None,
        info: dict[str, Any],
    ) -> None:
        from workers.methods import parse_method

        found = lora_structure(parse_method(ctx.cfg.method))
        trained = sum(p.numel() for n, p in model.backbone.named_parameters() if "lora_" in n)
        info["delta_params"] = trained
        info["budget_params"] = found.budget
        info["json_artifacts"] = {
            "source_structure.json": found.to_dict(),
            "peft_lora.json": {
                "ranks": lora_ranks(found),
                "structure_size": found.total_size,
                "peft_size": trained,
            },
        }


def lora_structure(method: Method) -> Structure:
    """The structure file a ``peft-lora/<file>`` method names, checked to be LoRA only."""
    from search_space import Structure

    structure = Structure.load(Path(method.arg or ""))
    others = sorted({e.kind for e in structure.entries} - {"lora"})
    if others or not structure.entries:
        raise NotLoraOnlyError(
            f"{method.arg}: peft-lora trains LoRA entries only, this structure has "
            f"{', '.join(others) or 'no entries'}; search in space L (space: L) or use "
            "manual/<file> for mixed structures"
        )
    return structure


def lora_ranks(structure: Structure) -> dict[str, int]:
    """Module path -> LoRA rank of each entry."""
    return {e.path: int(dict(e.options).get("rank", 1)) for e in structure.entries}
