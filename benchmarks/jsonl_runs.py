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
