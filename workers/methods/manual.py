"""``manual/<name>`` or ``manual/<file.json>``: a fixed structure at its own natural size.

``<name>`` is one of the hand-placed baselines of spec section 5
(`search_space.baselines.MANUAL_NAMES`, built by `search_space.manual_structure`);
a ``.json`` argument is a saved structure (e.g. from `s3delta best`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from search_space.baselines import MANUAL_NAMES
from workers.methods.base import Found, Method, MethodSpec, UnknownMethodError

if TYPE_CHECKING:
    import torch

    from workers.trial_context import TrialContext


class Manual(MethodSpec):
    family = "manual"
    takes_arg = True

    @property
    def spelling(self) -> str:
        return (
            "'manual/<name>' with <name> one of "
            + ", ".join(MANUAL_NAMES)
            + ", or 'manual/<path to a structure .json>'"
        )

    def structure_file(self, arg: str) -> str | None:
        return arg if arg.endswith(".json") and arg not in MANUAL_NAMES else None

    def parse_arg(self, name: str, arg: str, check_files: bool, help_text: str) -> Method:
        if arg in MANUAL_NAMES:
            return Method(self, name, arg)
        if self.structure_file(arg) is not None:
            if check_files and not Path(arg).is_file():
                raise UnknownMethodError(
                    f"method {name!r}: structure file {str(Path(arg))!r} does not exist; "
                    "give an existing structure JSON (e.g. from `s3delta best`)"
                )
            return Method(self, name, arg)
        raise UnknownMethodError(f"unknown manual baseline {arg!r}: {help_text}")

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        from search_space import Structure, manual_structure

        arg = method.arg or ""
        if arg in MANUAL_NAMES:
            return manual_structure(arg, backbone, ctx.cfg.model, ctx.cfg.adapter_width), {}
        return Structure.load(Path(arg)), {}
