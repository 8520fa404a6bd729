"""The ``uniform`` layout: the budget spread as evenly over the layers as it allows.

PEFT design spaces (Chen et al., ICLR 2023) found spreading parameters evenly across
layers a strong pattern, so a searched structure has to beat it, not only a random pick.

The rule, fixed so that a structure is the same for every task and seed:

1. Candidates are grouped by (kind, role): e.g. every layer's query bias is one group.
   Only per-layer candidates take part (embedding and final norms have no layer).
2. A group of size-``n`` candidates fits ``k = min(layers, remaining // n)`` of its
   layers. The group with the largest ``k`` is taken; ties go to the group that uses
   more of the budget (``k * n``), then to the group met first in the space's candidate
   order (module order of the first layer; within a site, the space's kind order).
3. Its ``k`` layers are spread evenly over the group's ``L`` layers (in stack order,
   encoder before decoder): the ``i``-th of ``k`` is layer ``floor((i + 0.5) * L / k)``.
4. Repeat on what is left of the budget with the groups not yet taken, until no
   candidate fits. A group is never taken twice.

At 0.01% of all-MiniLM-L6-v2 (2,271 parameters) this is the query bias (384) in 5 of
the 6 layers (0, 1, 3, 4, 5); at 0.002% (454) the query bias of layer 3.
"""

from __future__ import annotations

from collections.abc import Sequence

from search_space.positions import Candidate


def _groups(candidates: Sequence[Candidate]) -> list[list[Candidate]]:
    """(kind, role) groups of per-layer candidates, in order of first appearance; each
    group in stack-then-layer order. A group whose members differ in size is split by size."""
    groups: dict[tuple[str, str, int], list[Candidate]] = {}
    for c in candidates:
        if c.site.layer < 0:
            continue
        groups.setdefault((c.kind, c.site.role, c.size), []).append(c)
    stacks: dict[str, int] = {}
    for c in candidates:
        stacks.setdefault(c.site.stack, len(stacks))
    return [
        sorted(members, key=lambda c: (stacks[c.site.stack], c.site.layer))
        for members in groups.values()
    ]


def spread(count: int, total: int) -> list[int]:
    """``count`` indices out of ``range(total)``, as evenly spaced as they can be."""
    if not 0 <= count <= total:
        raise ValueError(f"cannot spread {count} over {total}")
    return [int((i + 0.5) * total / count) for i in range(count)]


def uniform_select(candidates: Sequence[Candidate], budget: int) -> list[Candidate]:
    """The uniform structure (module docstring's rule); never over ``budget``."""
    groups = _groups(candidates)
    chosen: list[Candidate] = []
    remaining = budget
    while True:
        best: tuple[int, int, int] | None = None  # (layers, params, -group index)
        for g, members in enumerate(groups):
            k = min(len(members), remaining // members[0].size)
            if k > 0 and (best is None or (k, k * members[0].size, -g) > best):
                best = (k, k * members[0].size, -g)
        if best is None:
            break
        k, used, g = best[0], best[1], -best[2]
        members = groups.pop(g)
        chosen.extend(members[i] for i in spread(k, len(members)))
        remaining -= used
    order = {c.name: i for i, c in enumerate(candidates)}
    return sorted(chosen, key=lambda c: order[c.name])
