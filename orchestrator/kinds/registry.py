"""The experiment kinds the service knows, and the one place that decides a sweep's kind.

A sweep file belongs to the first registered kind that claims it, else to the default
kind (the structure search); a recorded sweep to the kind whose sweep-run tag it
carries. Nothing else in the orchestrator asks which kind a sweep is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.kinds.base import ExperimentKind
from orchestrator.results.query import KIND_TAG, SWEEP_TAG, newest, tags_filter
from orchestrator.sweep.yaml_source import read_yaml

if TYPE_CHECKING:
    from orchestrator.results.client import Client

_KINDS: dict[str, ExperimentKind] = {}
_DEFAULT: list[str] = []


class UnknownKindError(KeyError):
    """No kind of that name is registered; the message lists the known ones."""


def register_kind(kind: ExperimentKind, *, default: bool = False) -> ExperimentKind:
    """Add ``kind`` (replacing one of the same name); ``default``: the kind of every file
    no other kind claims."""
    _KINDS[kind.name] = kind
    if default:
        _DEFAULT[:] = [kind.name]
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind (tests add toy kinds and take them away again)."""
    _KINDS.pop(name, None)
    if [name] == _DEFAULT:
        _DEFAULT.clear()


def kinds() -> list[ExperimentKind]:
    """The registered kinds, in registration order."""
    return list(_KINDS.values())


def kind_named(name: str) -> ExperimentKind:
    if name not in _KINDS:
        raise UnknownKindError(f"no experiment kind {name!r}; known: {sorted(_KINDS)}")
    return _KINDS[name]


def default_kind() -> ExperimentKind:
    return kind_named(_DEFAULT[0] if _DEFAULT else "")


def kind_of(raw: Mapping[str, Any] | Any) -> ExperimentKind:
    """The kind of a parsed sweep file: the first that claims it, else the default."""
    if isinstance(raw, Mapping):
        for kind in _KINDS.values():
            if kind.name not in _DEFAULT and kind.claims(raw):
                return kind
    return default_kind()


def kind_of_file(path: str | Path) -> ExperimentKind:
    """The kind of a sweep file (raises `SweepValidationError` if it is no YAML mapping)."""
    return kind_of(read_yaml(Path(path)))


def kind_of_recorded(client: Client, sweep: str) -> ExperimentKind:
    """The kind of a sweep recorded in ``client``'s experiment, by its sweep run's tag
    (the other kinds asked before the default one); the default kind when none is found
    (whose reader then names the known sweeps)."""
    others_first = sorted(_KINDS.values(), key=lambda kind: kind.name in _DEFAULT)
    for kind in others_first:
        query = tags_filter({KIND_TAG: kind.sweep_tag, SWEEP_TAG: sweep})
        if newest(client.mlflow, [client.experiment_id], query) is not None:
            return kind
    return default_kind()
