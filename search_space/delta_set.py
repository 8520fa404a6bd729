"""A set of deltas hooked onto one backbone, optionally gated.

The backbone keeps its own modules and weights; the `DeltaSet` owns the delta
parameters (register it as a child of the task model so ``.to(device)`` moves them).
Parameter names are readable: ``<module path>:<kind>.<tensor>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from search_space.deltas import Delta, GateSlot, KindOptions, Site, make_delta


@dataclass(frozen=True)
class DeltaSpec:
    """What to insert where: a site, a kind and the kind's options (None: its defaults)."""

    site: Site
    kind: str
    options: KindOptions | None = None

    @property
    def name(self) -> str:
        return f"{self.site.path}:{self.kind}"


def _key(name: str) -> str:
    return name.replace(".", "__")


class DeltaSet(nn.Module):
    """Deltas attached to ``backbone`` by forward hooks; gated when ``slot`` is given."""

    def __init__(
        self,
        backbone: nn.Module,
        specs: Sequence[DeltaSpec],
        slot: GateSlot | None = None,
        lora_scale: float = 1.0,
    ) -> None:
        super().__init__()
        modules = dict(backbone.named_modules())
        self.names: list[str] = []
        self.deltas = nn.ModuleDict()
        for index, spec in enumerate(specs):
            target = modules[spec.site.path]
            delta = make_delta(spec.kind, spec.site, target, spec.options, lora_scale)
            delta.attach(target, slot, index)
            self.deltas[_key(spec.name)] = delta
            self.names.append(spec.name)

    def items(self) -> Iterator[tuple[str, Delta]]:
        for name in self.names:
            yield name, self.deltas[_key(name)]  # type: ignore[misc]

    def detach_all(self) -> None:
        for _, delta in self.items():
            delta.detach()

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def named_tensors(self) -> dict[str, torch.Tensor]:
        """Readable name -> tensor, the form saved to safetensors."""
        return {
            f"{name}.{pname}": p.detach().contiguous().cpu()
            for name, delta in self.items()
            for pname, p in delta.named_parameters()
        }

    def load_named_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        own = {
            f"{name}.{pname}": p
            for name, delta in self.items()
            for pname, p in delta.named_parameters()
        }
        missing = sorted(set(own) - set(tensors))
        unexpected = sorted(set(tensors) - set(own))
        if missing or unexpected:
            raise ValueError(
                f"delta weights do not match the structure: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
        wrong = [key for key, p in own.items() if tuple(tensors[key].shape) != tuple(p.shape)]
        if wrong:
            key = wrong[0]
            raise ValueError(
                f"delta weights do not match the structure: {key} has shape "
                f"{tuple(tensors[key].shape)}, the structure needs {tuple(own[key].shape)}"
                + (f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else "")
            )
        with torch.no_grad():
            for key, p in own.items():
                p.copy_(tensors[key].to(p.device, p.dtype))
