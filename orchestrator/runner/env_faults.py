"""Faults of the machine, not of the sweep, said in one line (issue 23, fault 4).

A full disk used to end the driver with hundreds of lines of chained tracebacks, or with
Optuna's misleading "invalid data in the commit, e.g. exceeding max length" (its wording
for SQLite's "database or disk is full"). `environment_fault` recognises such errors
anywhere in an exception's chain and words them as one line that names the resource
(which folder or store, on which file system, how much is free) and the fix; the CLI
prints it and exits 4 (`EXIT_ENVIRONMENT`). Records the driver could not close stay
RUNNING for `--resume` or `s3delta runs --gc`. A store that stays unreachable
(`store_retry.StoreUnreachableError`) is worded the same way.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

EXIT_ENVIRONMENT = 4  # mirrored in orchestrator.cli.exit_codes
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")
LOW_FREE_BYTES = 8 * 1024 * 1024
FULL_FREE_BYTES = 1024 * 1024  # a trial that failed with less free: the disk was full


class EnvironmentFault(RuntimeError):
    """The machine cannot go on (disk full, a store away); one line with the fix."""

    exit_code = EXIT_ENVIRONMENT


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__, getattr(current, "orig", None)):
            if isinstance(nxt, BaseException):
                stack.append(nxt)


def _full_file(error: BaseException) -> tuple[bool, str | None]:
    """Whether the chain holds a full disk, and the file named by it if any."""
    found, name = False, None
    for item in _chain(error):
        if isinstance(item, OSError) and item.errno in _FULL_ERRNOS:
            found = True
            name = name or (str(item.filename) if item.filename else None)
        elif any(text in str(item).lower() for text in _FULL_TEXTS):
            found = True
    return found, name


def _existing(path: Path) -> Path:
    path = path.expanduser()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _free(path: Path) -> int | None:
    try:
        return shutil.disk_usage(_existing(path)).free
    except OSError:
        return None


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def trial_found_disk_full(error_text: str | None, folder: str | None) -> bool:
    """Whether a trial's failure is the disk under its folder filling up: its error says
    so ("No space left on device", errno 28, also as a Ray task error's text), or it failed
    with (almost) no byte left there; torch.save's words for it are only "unexpected pos"
    or "file write failed"."""
    text = (error_text or "").lower()
    if any(t in text for t in _FULL_TEXTS) or "[errno 28]" in text:
        return True
    if not folder:
        return False
    free = _free(Path(folder))
    return free is not None and free < FULL_FREE_BYTES


def sqlite_file(url: str | None) -> Path | None:
    prefix = "sqlite:///"
    if not url or not url.startswith(prefix):
        return None
    return Path(url[len(prefix) :].split("?", 1)[0])


def disk_full_line(error: BaseException, places: Mapping[str, tuple[Path, str]]) -> str | None:
    """One line for a full disk: ``places`` maps a resource's name to (its path, the
    setting that moves it); the full one is the one the error names, else the one with
    the least free space."""
    full, filename = _full_file(error)
    if not full:
        return None
    name, path, fix = "", None, "free space there"
    if filename:
        for label, (where, setting) in places.items():
            try:
                Path(filename).resolve().relative_to(where.resolve())
            except (ValueError, OSError):
                continue
            name, path, fix = label, where, setting
            break
    where_text = ""
    if path is None and places:  # the fullest places (those on one device are all named)
        frees = {label: _free(where) or 0 for label, (where, _) in places.items()}
        least = min(frees.values())
        fullest = [label for label in places if frees[label] == least]
        name, (path, fix) = fullest[0], places[fullest[0]]
        where_text = " and the ".join(f"{label} {places[label][0]}" for label in fullest)
        fix = " or ".join(dict.fromkeys(places[label][1] for label in fullest))
    if not where_text:
        where_text = f"{name} {path}" if path is not None else str(filename or "a folder")
    free = _free(path) if path is not None else None
    free_text = f", {_size(free)} free" if free is not None else ""
    return (
        f"no space left on the device of the {where_text}{free_text}; free space there or "
        f"{fix}, then continue with `s3delta run SWEEP.yaml --resume` (records left open are "
        "closed by it or by `s3delta runs --gc`)"
    )


def environment_fault(
    error: BaseException, places: Mapping[str, tuple[Path, str]]
) -> EnvironmentFault | None:
    """The `EnvironmentFault` an error amounts to, or None when it is something else."""
    from orchestrator.runner.store_retry import StoreUnreachableError

    line = disk_full_line(error, places)
    if line is not None:
        return EnvironmentFault(line)
    for item in _chain(error):
        if isinstance(item, StoreUnreachableError):
            return EnvironmentFault(str(item))
    return None


def sweep_places(
    run_dir: Path, tracking_uri: str, storage_url: str | None
) -> dict[str, tuple[Path, str]]:
    """The places a search or subspace sweep writes, and the setting that moves each."""
    places = {"run dir": (run_dir, "give another `--run-dir`")}
    mlflow_db = sqlite_file(tracking_uri)
    if mlflow_db is not None:
        places["MLflow store"] = (
            mlflow_db.parent,
            "set S3DELTA_HOME (or --tracking-uri) to a folder on another disk",
        )
    optuna_db = sqlite_file(storage_url)
    if optuna_db is not None and optuna_db.parent != run_dir:
        places["Optuna storage"] = (optuna_db.parent, "give another `--storage`")
    return places
