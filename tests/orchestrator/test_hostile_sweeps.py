"""Hostile sweep files: `s3delta validate` refuses each in one line, fast, small, writing nothing.

Every file in `hostile/` (plus a few generated here: too large to keep in the
repository) is validated in its own process limited to 2 GiB of address space and
30 s (`hostile_harness.py`), from an empty working directory with `S3DELTA_HOME`
pointing at a folder that does not exist. Each must exit 2 with its expected
fragments on one problem line each, print no traceback, and create no file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent
HOSTILE = HERE / "hostile"
INVALID_EXIT = 2
HEAD = (
    "name: generated\nmodel: sentence-transformers/all-MiniLM-L6-v2\ntasks: [glue/sst2]\n"
    "methods: [random]\nbudgets: ['0.01%']\n"
)


def _expected(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [
        line.removeprefix("# expect:").strip()
        for line in text.splitlines()
        if line.startswith("# expect:")
    ]


def _generated(folder: Path) -> list[Path]:
    """Cases too large to keep as files: an oversized file, a 100,000-character model,
    a million seeds."""
    folder.mkdir()
    cases = {
        "oversized_file": (
            "(file): ",
            HEAD + "seeds: [1]\n" + "# padding\n" * 60_000,
        ),
        "model_100k_characters": (
            "model: is 100,000 characters long",
            HEAD.replace("sentence-transformers/all-MiniLM-L6-v2", "m" * 100_000) + "seeds: [1]\n",
        ),
        "million_seeds": (
            "(file): ",
            HEAD + "seeds: [" + ", ".join(str(i) for i in range(1_000_000)) + "]\n",
        ),
    }
    paths = []
    for name, (expect, body) in cases.items():
        path = folder / f"{name}.yaml"
        path.write_text(f"# expect: {expect}\n{body}")
        paths.append(path)
    return paths


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Validate every case once (one harness process, one fork per case)."""
    root = tmp_path_factory.mktemp("hostile")
    files = sorted(HOSTILE.glob("*.yaml")) + _generated(root / "generated")
    cases = []
    for path in files:
        cwd = root / "cwd" / path.stem
        cwd.mkdir(parents=True)
        cases.append({"name": path.stem, "file": str(path), "cwd": str(cwd)})
    (root / "cases.json").write_text(json.dumps(cases))
    home = root / "home"
    env = {**os.environ, "S3DELTA_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    for name in ("MLFLOW_TRACKING_URI", "S3DELTA_OPTUNA_STORAGE", "RAY_ADDRESS"):
        env.pop(name, None)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.orchestrator.hostile_harness",
            str(root / "cases.json"),
            str(root / "results.json"),
        ],
        cwd=REPO,
        env=env,
        check=True,
        timeout=60 + 35 * len(cases),
    )
    results = json.loads((root / "results.json").read_text())
    assert not home.exists(), f"validate created {_files_under(home)} under S3DELTA_HOME"
    return {result["name"]: {**result, "path": Path(result["file"])} for result in results}


GENERATED = ["oversized_file", "model_100k_characters", "million_seeds"]
CASES = [*sorted(path.stem for path in HOSTILE.glob("*.yaml")), *GENERATED]


def test_corpus_is_large_and_annotated() -> None:
    files = sorted(HOSTILE.glob("*.yaml"))
    assert len(files) >= 70
    assert all(_expected(path) for path in files), "every hostile file needs a '# expect:' line"


PROBLEM = re.compile(
    r"^  (\(top level\)|\(yaml syntax\)|\(file\)|[a-z_]+(\[\d+\])?(\.[A-Za-z_]+|\[\d+\])*)[^:]*: \S"
)


@pytest.mark.parametrize("name", CASES)
def test_validate_refuses_in_one_line_fast_small_and_writes_nothing(
    outcomes: dict[str, dict[str, Any]], name: str
) -> None:
    outcome = outcomes[name]
    stderr = outcome["stderr"]
    assert outcome["rc"] == INVALID_EXIT, f"{name}: exit {outcome['rc']}\n{stderr[-3000:]}"
    assert "Traceback" not in stderr + outcome["stdout"]
    assert outcome["seconds"] < 30
    assert outcome["max_rss_bytes"] < 2 * 1024**3
    lines = stderr.splitlines()
    assert lines[0].startswith("invalid sweep file "), lines[0][:200]
    problems = lines[1:]
    assert problems, stderr
    for line in problems:
        assert PROBLEM.match(line), f"{name}: not '<yaml.path>: <problem>; <fix>': {line[:300]!r}"
        assert len(line) <= 1300
    for expected in _expected(outcome["path"]):
        assert any(expected in line for line in problems), f"{name}: {expected!r} not in\n{stderr}"
    assert _files_under(Path(outcome["cwd"])) == [], f"{name} wrote files in the working dir"


def test_validate_as_a_plain_command_refuses_an_alias_bomb_under_limits(tmp_path: Path) -> None:
    """The real console script (no fork): the 'billion laughs' file, 2 GiB, 30 s."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    env = {**os.environ, "S3DELTA_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "s3delta"),
            "validate",
            str(HOSTILE / "alias_bomb_extra.yaml"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=limit,
    )
    assert done.returncode == INVALID_EXIT, done.stderr
    assert "values once aliases are expanded" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
