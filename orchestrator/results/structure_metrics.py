"""A structure as filterable MLflow metrics: modules and parameters per kind, upper-layer share.

Logged on every trial run that has a structure, next to ``structure.json``, so the MLflow
UI can filter and sort runs by what they chose (``metrics.`structure/n_lora` > 0``):

- ``structure/n_<kind>``: how many modules of that kind (``n_lora``, ``n_bitfit`` ...), for
  every kind in the delta registry (0 when absent) and any other kind the entries name;
- ``structure/size_<kind>``: their trainable parameters;
- ``structure/n_modules``, ``structure/size``: the totals;
- ``structure/upper_fraction``: the share of the structure's parameters in the upper half
  of its stack's layers (layer >= n_layers / 2); entries outside the layers (embedding or
  final norms) count as lower. Needs the number of layers per stack: from ``n_layers``, else
  the highest layer seen in the probabilities' candidate names or the entries, plus one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from search_space.deltas import kind_names

PREFIX = "structure"
_LAYER = re.compile(r"(?:^|\.)(encoder|decoder)?[^:]*?\.(?:layer|layers|block|h)\.(\d+)\.")


def _stack_layer(entry: Mapping[str, Any]) -> tuple[str, int]:
    if entry.get("layer") is not None and "stack" in entry:
        return str(entry.get("stack") or "encoder"), int(entry["layer"])
    return _parse(str(entry.get("path", "")))


def _parse(path: str) -> tuple[str, int]:
    match = _LAYER.search(path)
    if not match:
        return "encoder", -1
    return match.group(1) or "encoder", int(match.group(2))


def layers_seen(entries: Iterable[Mapping[str, Any]], names: Iterable[str] = ()) -> dict[str, int]:
    """Per stack, one more than the highest layer index among entries and candidate names."""
    top: dict[str, int] = {}
    for stack, layer in [_stack_layer(e) for e in entries] + [
        _parse(n.split(":")[0]) for n in names
    ]:
        if layer >= 0:
            top[stack] = max(top.get(stack, 0), layer + 1)
    return top


def structure_metrics(
    structure: Mapping[str, Any],
    n_layers: Mapping[str, int] | None = None,
    candidate_names: Iterable[str] = (),
) -> dict[str, float]:
    """The metrics above for a Structure JSON dict (``{"entries": [...]}``)."""
    entries = [e for e in structure.get("entries") or [] if isinstance(e, Mapping)]
    counts = {kind: 0.0 for kind in kind_names()}
    sizes = {kind: 0.0 for kind in kind_names()}
    for entry in entries:
        kind = str(entry.get("kind"))
        counts[kind] = counts.get(kind, 0.0) + 1
        sizes[kind] = sizes.get(kind, 0.0) + float(entry.get("size") or 0)
    layers = dict(layers_seen(entries, candidate_names))
    layers.update(n_layers or {})
    total = sum(sizes.values())
    upper = 0.0
    for entry in entries:
        stack, layer = _stack_layer(entry)
        count = layers.get(stack, 0)
        if layer >= 0 and count and layer >= count / 2:
            upper += float(entry.get("size") or 0)
    values = {f"{PREFIX}/n_{k}": v for k, v in counts.items()}
    values.update({f"{PREFIX}/size_{k}": v for k, v in sizes.items()})
    values[f"{PREFIX}/n_modules"] = float(len(entries))
    values[f"{PREFIX}/size"] = total
    values[f"{PREFIX}/upper_fraction"] = upper / total if total else 0.0
    return values
