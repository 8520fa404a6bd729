"""A structure file checked against the backbone it is applied to: nothing taken on trust.

Sizes, budgets and the backbone are claims in a JSON file that anyone can edit. The
reported parameter counts of a trial come from the structure, so an entry that claims
`size: 1` for a 384-parameter vector, or a duplicated entry, would make a result wrong
without any error. Every size is recomputed from the backbone's shapes here.
"""

from __future__ import annotations

from torch import nn

from search_space.deltas import find_kind
from search_space.positions import backbone_params, find_sites
from search_space.structure import Structure


class StructureMismatchError(ValueError):
    """A structure that does not fit this backbone (positions, sizes, budget, duplicates)."""


def structure_problems(structure: Structure, model: nn.Module) -> list[str]:
    """One line per problem, naming the entry (``entries[3] (path:kind)``) and the fix."""
    problems = []
    n_params = backbone_params(model)
    if structure.backbone_params != n_params:
        problems.append(
            f"built for a backbone of {structure.backbone_params:,} parameters "
            f"({structure.backbone!r}), but this backbone has {n_params:,}; use a structure "
            "searched on this backbone"
        )
    sites = {site.path: site for site in find_sites(model)}
    first: dict[str, int] = {}
    total = 0
    for index, entry in enumerate(structure.entries):
        where = f"entries[{index}] ({entry.name})"
        if entry.name in first:
            problems.append(
                f"{where}: repeats entries[{first[entry.name]}]; list each position and kind once"
            )
            continue
        first[entry.name] = index
        site = sites.get(entry.path)
        if site is None:
            problems.append(
                f"{where}: this backbone has no position {entry.path!r} (the structure names "
                f"{structure.backbone!r}); use a structure searched on this backbone"
            )
            continue
        kind = find_kind(entry.kind)
        if kind is None or site.site_type not in kind.sites:
            problems.append(f"{where}: kind {entry.kind!r} cannot sit on a {site.site_type}")
            continue
        try:
            options = kind.load_options(entry.options)
        except (TypeError, ValueError) as err:
            problems.append(f"{where}: {err}")
            continue
        if options.problems():
            problems.append(f"{where}: {options.problems()[0]}")
            continue
        true_size = kind.size(site, options)
        if entry.size != true_size:
            problems.append(
                f"{where}: claims size {entry.size:,} but a {entry.kind} there has "
                f"{true_size:,} parameters; correct the size (or re-export the structure)"
            )
        total += true_size
    if structure.budget is not None and total > structure.budget:
        problems.append(
            f"its entries hold {total:,} parameters, over its budget of {structure.budget:,}; "
            "remove entries or raise the budget"
        )
    return problems


def check_structure(structure: Structure, model: nn.Module, source: str = "structure") -> None:
    """Raise `StructureMismatchError` (one line: the first problem and how many more)."""
    problems = structure_problems(structure, model)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise StructureMismatchError(f"{source}: {problems[0]}{more}")
