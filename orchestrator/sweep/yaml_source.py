"""Read a sweep YAML file into plain Python data, catching what PyYAML lets slip.

Two YAML 1.1 habits bite sweep files: ``1e-4`` is read as a *string* (the float
pattern wants a dot), and a key written twice silently keeps the last value. This
loader reads exponent floats as floats and rejects duplicate keys, and every
syntax problem is reported with its line number.

Hostile files are refused before they cost anything: files over `MAX_FILE_BYTES`,
nesting deeper than `MAX_DEPTH`, aliases that expand to more than `MAX_NODES` values
("billion laughs", the limit Kubernetes' decoder also sets), recursive aliases and
lists or mappings used as keys. Merge keys (``<<: *defaults``) work as YAML defines
them: keys written in the mapping win over merged ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from orchestrator.sweep.errors import SweepValidationError

MAX_FILE_BYTES = 512 * 1024
MAX_DEPTH = 64
MAX_NODES = 50_000
_MERGE_TAG = "tag:yaml.org,2002:merge"

_FLOAT_PATTERN = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _SweepLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats (``1e-4``), duplicate-key detection, depth limit."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_DEPTH} levels deep; flatten the structure",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1


# Replace the float resolver so ``1e-4`` and ``2e4`` are floats as in YAML 1.2.
_SweepLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SweepLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_PATTERN, list("-+0123456789."))


def _construct_mapping(loader: _SweepLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == _MERGE_TAG:
            continue  # `<<: *defaults`: merged by SafeConstructor.flatten_mapping below
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"a {kind} is used as a key; keys are plain names such as `seeds:`",
                key_node.start_mark,
            )
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
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


def _expanded_size(root: yaml.Node) -> None:
    """Refuse recursive aliases and aliases that expand to more than `MAX_NODES` values.

    Aliases share one composed node, so the walk is memoised per node: linear in the
    file, however large the expansion would be."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if done:
            open_nodes.discard(id(node))
            size[id(node)] = 1 + sum(size[id(child)] for child in children)
            if size[id(node)] > MAX_NODES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"holds more than {MAX_NODES:,} values once aliases are expanded; write "
                    "fewer values and do not nest aliases (a sweep needs a few hundred)",
                    node.start_mark,
                )
            continue
        if id(node) in size:
            continue
        if id(node) in open_nodes:
            raise yaml.composer.ComposerError(
                None, None, "an alias refers to itself; remove the recursive alias", node.start_mark
            )
        open_nodes.add(id(node))
        stack.append((node, True))
        stack += [(child, False) for child in children if id(child) not in size]


def _load(text: str) -> Any:
    loader = _SweepLoader(text)
    try:
        node = loader.get_single_node()  # type: ignore[no-untyped-call]
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)  # type: ignore[no-untyped-call]
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse sweep YAML text; raise `SweepValidationError` unless it is a non-empty mapping."""
    if len(text) > MAX_FILE_BYTES:
        raise SweepValidationError(
            source,
            [
                f"(file): {len(text):,} characters is far more than a sweep needs (limit "
                f"{MAX_FILE_BYTES:,}); shorten the file"
            ],
        )
    try:
        data = _load(text)
    except RecursionError:
        raise SweepValidationError(
            source,
            [
                f"(yaml syntax): nested too deeply; flatten the structure (at most {MAX_DEPTH} levels)"
            ],
        ) from None
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
        what = " ".join(str(err).split())
        raise SweepValidationError(source, [f"(yaml syntax): {what}; fix the YAML"]) from None
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
        if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
            raise SweepValidationError(
                str(path),
                [
                    f"(file): {path.stat().st_size:,} bytes is far more than a sweep needs "
                    f"(limit {MAX_FILE_BYTES:,}); shorten the file"
                ],
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepValidationError(
            str(path), [f"(file): {str(path)!r} does not exist; check the path"]
        ) from None
    except IsADirectoryError:
        raise SweepValidationError(
            str(path), [f"(file): {str(path)!r} is a folder; give the sweep's .yaml file"]
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        reason = "it is not UTF-8 text" if isinstance(err, UnicodeDecodeError) else str(err)
        raise SweepValidationError(
            str(path), [f"(file): cannot read {str(path)!r} ({reason}); give a readable UTF-8 file"]
        ) from None
    return parse_yaml(text, str(path))
