"""Read a sweep YAML file into plain Python data, catching what PyYAML lets slip.

Two YAML 1.1 habits bite sweep files: ``1e-4`` is read as a *string* (the float
pattern wants a dot), and a key written twice silently keeps the last value. This
loader reads exponent floats as floats and rejects duplicate keys, and every
syntax problem is reported with its line number.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from orchestrator.sweep.errors import SweepValidationError

_FLOAT_PATTERN = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _SweepLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats (``1e-4``) and duplicate-key detection."""


# Replace the float resolver so ``1e-4`` and ``2e4`` are floats as in YAML 1.2.
_SweepLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SweepLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_PATTERN, list("-+0123456789."))


def _construct_mapping(loader: _SweepLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} appears twice (lines {seen[key]} and {line}); keep one of them",
                key_node.start_mark,
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=True)


_SweepLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse sweep YAML text; raise `SweepValidationError` unless it is a non-empty mapping."""
    try:
        data = yaml.load(text, Loader=_SweepLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        what = err.problem or str(err)
        if err.context:
            started = err.context_mark
            since = f" (opened at line {started.line + 1})" if started and started != mark else ""
            what = f"{err.context}{since}, {what}"
        fix = "" if ";" in what else "; fix the YAML at that line"
        raise SweepValidationError(source, [f"(yaml syntax) {where}: {what}{fix}"]) from None
    except yaml.YAMLError as err:
        raise SweepValidationError(source, [f"(yaml syntax): {err}; fix the YAML"]) from None
    if data is None:
        raise SweepValidationError(
            source,
            [
                "(top level): the file is empty; write a sweep mapping (see examples/quickstart.yaml)"
            ],
        )
    if not isinstance(data, dict):
        raise SweepValidationError(
            source,
            [
                f"(top level): expected a mapping of keys such as name, model, tasks, got a "
                f"{type(data).__name__}; write `key: value` lines at the top level"
            ],
        )
    bad_keys = [key for key in data if not isinstance(key, str)]
    if bad_keys:
        raise SweepValidationError(
            source,
            [f"(top level): key {key!r} is not a string; use a key name" for key in bad_keys],
        )
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """Read and parse a sweep file; a missing or unreadable file is a validation problem too."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepValidationError(
            str(path), [f"(file): {str(path)!r} does not exist; check the path"]
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SweepValidationError(
            str(path), [f"(file): cannot read {str(path)!r} ({err}); give a readable UTF-8 file"]
        ) from None
    return parse_yaml(text, str(path))
