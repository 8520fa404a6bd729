"""Resumable evidence runs: one trial a JSONL line, appended the moment it finishes.

The evidence scripts (`evidence_minilm`, `ablation_search`, `oracle_single_module`,
`beyond_evidence`) share this loop, so each of them stops and resumes the same way, also
on another machine from the committed JSONL: a rerun skips the keys already written.
Trials run in spawned processes, one process per trial, so one trial's memory never
carries into the next.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def read_rows(path: Path) -> list[Row]:
    """The rows written so far (none when the file does not exist yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def done_keys(path: Path) -> set[str]:
    """The ``key`` of every row written so far."""
    return {row["key"] for row in read_rows(path)}


def run_and_append(
    run_one: Callable[[Any], Row],
    jobs: Iterable[Any],
    path: Path,
    *,
    parallel: int,
    describe: Callable[[Row], str],
) -> None:
    """`run_one` on each job in `parallel` spawned processes; each row is appended to
    `path` as it arrives (in finishing order) and printed as ``[i/n] describe(row)``."""
    todo = list(jobs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with mp.get_context("spawn").Pool(parallel, maxtasksperchild=1) as pool:
        for i, row in enumerate(pool.imap_unordered(run_one, todo), 1):
            with path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"[{i}/{len(todo)}] {describe(row)}", flush=True)


def run_with_sources(
    run_one: Callable[[Any], Row],
    cells: list[dict[str, Any]],
    path: Path,
    *,
    parallel: int,
    key: Callable[[dict[str, Any]], str],
    job: Callable[[dict[str, Any], Row | None], Any],
    describe: Callable[[Row], str],
) -> list[dict[str, Any]]:
    """`run_and_append` for cells that may depend on another cell's row (``cell["source"]``,
    that cell's key): cells start in their order in `cells` as soon as their source row
    exists, so a partial run of a seed-major grid holds whole seeds, derived trials
    included. ``job(cell, source_row)`` is what `run_one` gets. Returns the cells that could
    not run (a source failed or is not in `cells`); a failed trial is printed and left out
    of the file, so a rerun retries it."""
    done = {row["key"]: row for row in read_rows(path)}
    todo = [cell for cell in cells if key(cell) not in done]
    path.parent.mkdir(parents=True, exist_ok=True)
    arrived: queue.SimpleQueue[tuple[dict[str, Any], Row | BaseException]] = queue.SimpleQueue()
    in_flight = 0
    finished = 0
    with mp.get_context("spawn").Pool(parallel, maxtasksperchild=1) as pool:
        while True:
            # at most `parallel` in flight, the first ready cell in `cells`' order next, so a
            # derived trial goes ahead of later seeds as soon as its source is written
            while in_flight < parallel:
                ready = [c for c in todo if c["source"] is None or c["source"] in done]
                if not ready:
                    break
                cell = ready[0]
                todo.remove(cell)
                pool.apply_async(
                    run_one,
                    (job(cell, done.get(cell["source"]) if cell["source"] else None),),
                    callback=lambda row, cell=cell: arrived.put((cell, row)),
                    error_callback=lambda err, cell=cell: arrived.put((cell, err)),
                )
                in_flight += 1
            if in_flight == 0:
                break
            cell, outcome = arrived.get()
            in_flight -= 1
            finished += 1
            if isinstance(outcome, BaseException):
                print(f"[{finished}] {key(cell)} FAILED: {outcome!r}", flush=True)
                continue
            done[outcome["key"]] = outcome
            with path.open("a") as fh:
                fh.write(json.dumps(outcome) + "\n")
            print(f"[{finished}, {in_flight} running, {len(todo)} queued] {describe(outcome)}",
                  flush=True)  # fmt: skip
    return todo
