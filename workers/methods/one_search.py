"""One search, every budget, in a trial: the structure of another trial's search at this budget.

An s3delta trial writes ``logits.json`` (its final gate logits and the gate settings
they were searched with, `workers.methods.s3delta.logits_record`). A trial whose config
names that file in ``logits_from`` does not search: it re-solves the shift at its own
budget and discretises greedily (`search_space.rebudget`), then retrains as usual.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from search_space import Candidate
from search_space.rebudget import LogitsMismatchError, probabilities_at, select_at_budget
from workers.methods.candidates import Space
from workers.trial_context import TrialContext

LOGITS_FORMAT = "s3delta.logits"


class LogitsSourceError(ValueError):
    """A logits file that cannot give this trial's structure; the message says why."""


def read_logits(path: str | Path) -> dict[str, Any]:
    """A search's ``logits.json``, checked to be one."""
    path = Path(path)
    if not path.is_file():
        raise LogitsSourceError(
            f"logits_from: {str(path)!r} does not exist; it must be the logits.json of a "
            "finished s3delta trial (its source search must finish first)"
        )
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("format") != LOGITS_FORMAT or not data.get("logits"):
        raise LogitsSourceError(
            f"logits_from: {str(path)!r} is not a search's logits (format {LOGITS_FORMAT!r} "
            "with non-empty 'logits'); give the logits.json an s3delta trial wrote"
        )
    return data


def structure_from_logits(
    ctx: TrialContext, space: Space
) -> tuple[list[Candidate], dict[str, Any]]:
    """The chosen candidates at this trial's budget and what the trial records about them."""
    cfg = ctx.cfg
    assert cfg.logits_from is not None
    source = read_logits(cfg.logits_from)
    if source.get("space") != cfg.space:
        raise LogitsSourceError(
            f"logits_from: searched in space {source.get('space')!r}, this trial uses space "
            f"{cfg.space!r}; use logits of a search in the same space"
        )
    logits = {str(k): float(v) for k, v in source["logits"].items()}
    known = {c.name for c in space.candidates}
    unknown = sorted(set(logits) - known)
    if unknown:
        raise LogitsSourceError(
            f"logits_from: {len(unknown)} searched candidates (e.g. {unknown[0]!r}) are not in "
            "this backbone's space; use logits of a search on the same model"
        )
    beta = float(source.get("beta", cfg.beta))
    rescale = bool(source.get("rescale", cfg.rescale))
    fittable_only = bool(source.get("fittable_only", False))
    try:
        chosen = select_at_budget(
            space.candidates,
            logits,
            space.budget,
            beta=beta,
            rescale=rescale,
            fittable_only=fittable_only,
        )
    except LogitsMismatchError as err:
        raise LogitsSourceError(f"logits_from: {err}") from None
    offered = [c for c in space.candidates if c.name in logits]
    if fittable_only:
        offered = [c for c in offered if c.size <= space.budget]
    p = probabilities_at(offered, [logits[c.name] for c in offered], space.budget, beta, rescale)
    info: dict[str, Any] = {
        "probabilities": {c.name: v for c, v in zip(offered, p, strict=True)},
        "one_search": {
            "source_budget": str(source.get("budget_text")),
            "source_budget_params": float(source.get("budget") or 0),
            "source_seed": float(source.get("seed") or 0),
            "source_task": str(source.get("task")),
        },
    }
    return chosen, info
