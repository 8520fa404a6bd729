"""Checks on a sweep that passed field validation: sizes, data files, devices, structure files.

They need the validated values (absolute paths, normalised budgets), so `SweepConfig`
runs them last, on a file with no other problem; each takes the fields it reads (not
the sweep, which would make this module and `config` import each other) and reads
only: nothing is created, started or downloaded.
"""

from __future__ import annotations

import math

from orchestrator.sweep.limits import over_limit
from search_space.structure import Structure, StructureFormatError
from workers.data.local_files import official_files
from workers.methods import structure_file


def count_problems(
    *, seeds: int, trials_per_cell: int, tasks: int, cells_per_task: int
) -> list[str]:
    """Seeds, trials per cell, cells and total trials against `limits.MAXIMA`."""
    problems = [
        over_limit("seeds", "seeds", seeds),
        over_limit("optuna.trials_per_cell", "trials_per_cell", trials_per_cell),
    ]
    cells = tasks * cells_per_task
    problems.append(over_limit("tasks", "cells", cells))
    total = cells * (trials_per_cell + seeds)
    if not any(problems):
        problems.append(over_limit("optuna.trials_per_cell", "total_trials", total))
    return [line for line in problems if line]


def data_problems(tasks: list[str], data_dir: str | None) -> list[str]:
    """Each listed task's official train and validation files exist under `data_dir`."""
    if data_dir is None:
        return []
    problems = []
    for task in tasks:
        missing = [path for path in official_files(task, data_dir) if not path.is_file()]
        if missing:
            names = " and ".join(str(path) for path in missing)
            problems.append(
                f"data_dir: {task} needs {names}, which {'do' if len(missing) > 1 else 'does'} "
                "not exist; put the official files there (layout as in the GLUE/SuperGLUE "
                "downloads), or remove data_dir to load tasks from the Hugging Face hub"
            )
    return problems


def device_problems(device: object, gpus: float) -> list[str]:
    """A CUDA `device` must be one of the `gpus` Ray gives each trial (numbered from cuda:0)."""
    if not isinstance(device, str) or not device.startswith("cuda"):
        return []
    if gpus <= 0:
        return [
            f"training.device: {device} but resources.gpus_per_trial is 0, so trials get no "
            "GPU; set resources.gpus_per_trial (e.g. 1), or device: auto"
        ]
    visible = max(1, math.ceil(gpus))
    _, _, index = device.partition(":")
    if index and int(index) >= visible:
        return [
            f"training.device: {device} names GPU {int(index)}, but each trial sees only the "
            f"{visible} GPU(s) Ray assigns it, numbered from cuda:0; use device: cuda (or auto)"
        ]
    return []


def structure_file_problems(methods: list[str], model: str | None = None) -> list[str]:
    """Each ``manual/<file>.json`` is a readable structure with sane entries and no duplicates.

    With the sweep's `model`, sizes are recomputed and positions, duplicates and the
    declared budget checked on a weightless copy of the backbone (`structure_backbone`),
    as the trial would (`search_space.structure_check`)."""
    problems = []
    for index, method in enumerate(methods):
        path = structure_file(method)
        if path is None:
            continue
        try:
            structure = Structure.load(path)
        except (StructureFormatError, OSError, UnicodeDecodeError, ValueError) as err:
            reason = " ".join(str(err).split())
            problems.append(
                f"methods[{index}]: {reason}; give a structure JSON written by s3delta "
                "(`s3delta best ... --out FILE`)"
            )
            continue
        if not structure.entries:
            problems.append(
                f"methods[{index}]: structure {path} has no entries; list at least one delta module"
            )
        # torch only for a file that names a structure: validate stays light otherwise
        from orchestrator.sweep.structure_backbone import backbone_problems

        on_backbone = backbone_problems(structure, model) if model else None
        if on_backbone is not None:
            where = f"structure {path}: "
            problems += [
                f"methods[{index}]: {'' if line.startswith('entries[') else where}{line}"
                for line in on_backbone
            ]
            continue
        seen: dict[str, int] = {}
        for position, entry in enumerate(structure.entries):
            if entry.name in seen:
                problems.append(
                    f"methods[{index}]: entries[{position}] ({entry.name}) repeats "
                    f"entries[{seen[entry.name]}] of {path}; list each "
                    "position and kind once"
                )
                break
            seen[entry.name] = position
    return problems
