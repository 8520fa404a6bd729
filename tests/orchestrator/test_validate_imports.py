"""`s3delta validate` stays light: no torch (nor the other heavy libraries) is imported.

Validation reads YAML and checks fields; importing torch would add seconds to every
`validate` and make the orchestrator's checks depend on the training stack
(`workers/trial_types.py` is kept apart for exactly this). Each check runs in a fresh
interpreter, since this test process has long imported torch itself.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
HEAVY = ("torch", "transformers", "sklearn", "scipy", "ray", "mlflow")
PROBE = f"""
import json, sys
from orchestrator.cli import app
try:
    app(args=["validate", sys.argv[1]], prog_name="s3delta")
except SystemExit as exit_:
    code = exit_.code
loaded = [name for name in {HEAVY!r} if name in sys.modules]
print("@@" + json.dumps({{"code": code, "loaded": loaded}}))
"""


def _validate_in_fresh_process(sweep: Path, cwd: Path) -> dict[str, object]:
    env = {**os.environ, "S3DELTA_HOME": str(cwd / "home"), "HF_HUB_OFFLINE": "1"}
    for name in ("MLFLOW_TRACKING_URI", "S3DELTA_OPTUNA_STORAGE", "RAY_ADDRESS"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(sweep)],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next((text for text in done.stdout.splitlines() if text.startswith("@@")), None)
    assert line is not None, done.stdout + done.stderr
    return dict(json.loads(line[2:]))


def test_validate_of_the_quickstart_imports_no_torch(tmp_path: Path) -> None:
    outcome = _validate_in_fresh_process(REPO / "examples" / "quickstart.yaml", tmp_path)
    assert outcome["code"] in (None, 0)
    assert outcome["loaded"] == [], f"validate imported {outcome['loaded']}"


def test_validate_of_every_method_family_imports_no_torch(tmp_path: Path) -> None:
    """Parsing each kind of method (the methods registry) needs no torch. A structure
    file (``manual/<file>.json``) is left out: checking it against the backbone may."""
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "name: methods-check\nmodel: sentence-transformers/all-MiniLM-L6-v2\n"
        "tasks: [glue/sst2, glue/rte]\nbudgets: ['0.01%']\nseeds: [1]\n"
        "methods: [s3delta, random, finetune, manual/bitfit, manual/lora-qv-r8, manual/adapter]\n"
    )
    outcome = _validate_in_fresh_process(sweep, tmp_path)
    assert outcome["code"] in (None, 0)
    assert outcome["loaded"] == [], f"validate imported {outcome['loaded']}"


def test_invalid_sweep_still_imports_no_torch(tmp_path: Path) -> None:
    sweep = REPO / "tests" / "orchestrator" / "malformed" / "many_problems_at_once.yaml"
    outcome = _validate_in_fresh_process(sweep, tmp_path)
    assert outcome["code"] == 2
    assert outcome["loaded"] == []


@pytest.mark.parametrize("package", ["search_space", "workers.data", "workers.subspace"])
def test_every_lazily_exported_name_resolves(package: str) -> None:
    """The packages load their names on first use; each listed name must exist."""
    module = importlib.import_module(package)
    exported = [name for names in module._EXPORTS.values() for name in names]
    assert sorted(module.__all__) == sorted(exported)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018
