"""The one error type of task data: it always says which task, which file, which row, and the fix."""

from __future__ import annotations


class TaskDataError(ValueError):
    """Task data that cannot be used as it is.

    Carries the location as attributes so callers (the CLI, the trial worker) can show
    or record it without parsing the message. `row` is the 1-based line number in a local
    file (the header is line 1), a position in a hub split, or None for a whole file.
    """

    def __init__(
        self, task: str, source: str, problem: str, fix: str, row: int | str | None = None
    ) -> None:
        self.task = task
        self.source = source
        self.row = row
        self.problem = problem
        self.fix = fix
        where = source if row is None else f"{source}, row {row}"
        super().__init__(f"{task}: {where}: {problem}. Fix: {fix}")
