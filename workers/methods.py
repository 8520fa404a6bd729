"""Method names a trial understands, validated before any work starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MANUAL_BASELINES: tuple[str, ...] = (
    "lora-qv-r8",
    "lora-qv-r1",
    "adapter",
    "bitfit",
    "lnfit",
    "lra-all",
)
SEARCHED_METHODS: tuple[str, ...] = ("s3delta", "random")
METHOD_HELP = (
    "use 's3delta', 'random', 'finetune', 'manual/<name>' with <name> one of "
    + ", ".join(MANUAL_BASELINES)
    + ", or 'manual/<path to a structure .json>'"
)


class UnknownMethodError(ValueError):
    """A method name that is not one of the known methods."""


@dataclass(frozen=True)
class Method:
    """A parsed method: ``family`` is s3delta, random, manual or finetune."""

    family: str
    name: str
    manual: str | None = None
    structure_path: Path | None = None

    @property
    def uses_budget(self) -> bool:
        """Manual baselines and fine-tuning have their own natural size."""
        return self.family in SEARCHED_METHODS


def parse_method(name: str, check_files: bool = True) -> Method:
    """Parse a method name; raise `UnknownMethodError` naming the fix."""
    if not isinstance(name, str) or not name:
        raise UnknownMethodError(f"method {name!r} is empty: {METHOD_HELP}")
    if name in SEARCHED_METHODS or name == "finetune":
        return Method(family=name, name=name)
    if name.startswith("manual/"):
        rest = name[len("manual/") :]
        if rest in MANUAL_BASELINES:
            return Method(family="manual", name=name, manual=rest)
        if rest.endswith(".json"):
            path = Path(rest)
            if check_files and not path.is_file():
                raise UnknownMethodError(
                    f"method {name!r}: structure file {str(path)!r} does not exist; "
                    "give an existing structure JSON (e.g. from `s3delta best`)"
                )
            return Method(family="manual", name=name, structure_path=path)
        raise UnknownMethodError(f"unknown manual baseline {rest!r}: {METHOD_HELP}")
    raise UnknownMethodError(f"unknown method {name!r}: {METHOD_HELP}")
