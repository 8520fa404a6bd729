"""Seeds until decided, in the driver: each s3delta cell and its baseline cell add seeds
in pairs until their comparison is settled (``seeds: {start, max, until: decided, ...}``).

After every final run of either cell the pair is looked at again
(`SequentialSeeds.step`, the group-sequential design of `orchestrator.results.sequential`)
from the finished final runs' test scores; a "more" adds the next scheduled seed to both
cells at once, so runs stay paired and a cluster starts the pair as soon as the look says
so. Looks use only seeds finished on both sides, in schedule order, so the verdict does not
depend on the order runs finish in, and `--resume` (which replays the looks from the
recorded scores, `replay`) continues the same sequence: same seeds, same verdict.

A pair is settled when neither cell has work queued or running and the last look added
no seed: decided, ``max`` reached, or stopped by a failed seed (whose pair can never be
looked at; the verdict then stays ``undecided`` and the cell shows the failure). A cell
is finished only when every pair it belongs to is settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.results.sequential import SeedStep
    from orchestrator.runner.cell import CellRunner
    from orchestrator.sweep.sequential_seeds import SequentialSeeds

COMPARED = "s3delta"


@dataclass
class SeedPair:
    """One s3delta cell and its baseline cell (same task; same budget, or the baseline's
    own when it has none), with the last look at their comparison."""

    method: CellRunner
    baseline: CellRunner
    last: SeedStep | None = None
    added: list[int] = field(default_factory=list)

    @property
    def cells(self) -> tuple[CellRunner, CellRunner]:
        return self.method, self.baseline

    def settled(self) -> bool:
        idle = all(c.final_started and not c.queue and not c.running for c in self.cells)
        if not idle:
            return False
        wanted = None if self.last is None else self.last.next_seed
        # a wanted seed both cells already ran (one of them failed it) will never come
        return wanted is None or all(wanted in c.seeds for c in self.cells)


class SeedPairs:
    """Every pair of a sweep with ``until: decided``; the driver calls `after_final`."""

    def __init__(self, sequential: SequentialSeeds, cells: list[CellRunner]) -> None:
        self.sequential = sequential
        self.pairs: list[SeedPair] = []
        for method in cells:
            if method.cell.method != COMPARED:
                continue
            for base in cells:
                same_budget = base.cell.budget in (method.cell.budget, None)
                if (
                    base.cell.method == sequential.baseline
                    and base.cell.task == method.cell.task
                    and same_budget
                ):
                    self.pairs.append(SeedPair(method, base))
        for pair in self.pairs:
            for cell in pair.cells:
                cell.holds.append(pair.settled)

    def of(self, cell: CellRunner) -> list[SeedPair]:
        return [p for p in self.pairs if cell in p.cells]

    def look(self, pair: SeedPair) -> SeedStep:
        """Look at one pair from its cells' finished final runs; add the next seed if any."""
        step = self.sequential.step(pair.method.final_scores(), pair.baseline.final_scores())
        pair.last = step
        if step.next_seed is not None:
            for cell in pair.cells:
                cell.add_seed(step.next_seed)
            if step.next_seed not in pair.added:
                pair.added.append(step.next_seed)
        return step

    def after_final(self, cell: CellRunner) -> list[SeedPair]:
        """After a final run of ``cell`` ended: look at its pairs; returns them."""
        pairs = self.of(cell)
        for pair in pairs:
            self.look(pair)
        return pairs

    def replay(self) -> None:
        """On start (and `--resume`): look at every pair until no recorded seed is left to
        add, so a resumed sweep continues where the looks of the dead driver left off."""
        for pair in self.pairs:
            while True:
                before = pair.last.next_seed if pair.last else None
                step = self.look(pair)
                if step.next_seed is None or step.next_seed == before:
                    break
