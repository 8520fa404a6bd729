"""Run `s3delta validate` on many files, each in its own forked process with hard limits.

Usage: python -m tests.orchestrator.hostile_harness CASES.json RESULTS.json

CASES.json lists {"file", "cwd"}. The CLI is imported once; each file is validated in
a fork with an address-space limit (`LIMIT_BYTES`) and an alarm (`LIMIT_S`), with its
own empty working directory. Forking keeps 80 cases at seconds instead of minutes
while giving each the isolation of a fresh process. The libraries a `manual/<file>`
structure check imports (torch, transformers: about 8 s) are imported once too, before
forking; that `validate` stays light without them, and a cold start's time, are tested
in test_validate_imports.py and by the console-script case in test_hostile_sweeps.py. RESULTS.json gets per case the
exit code (negative: killed by that signal), seconds, peak memory, stdout and stderr.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

LIMIT_BYTES = 2 * 1024**3
LIMIT_S = 30


def _child(file: str, cwd: str, out_path: str, err_path: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))
    signal.alarm(LIMIT_S)
    os.chdir(cwd)
    for fd, path in ((1, out_path), (2, err_path)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
    from orchestrator.cli import app

    code = 0
    try:
        app(args=["validate", file], prog_name="s3delta")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(cases_path: str, results_path: str) -> None:
    # imported once, before forking: the CLI, and what a structure check needs
    import transformers.models.bert.modeling_bert
    import transformers.models.t5.modeling_t5  # noqa: F401

    import orchestrator.cli  # noqa: F401
    import search_space.positions
    import search_space.structure_check  # noqa: F401

    results = []
    for case in json.loads(Path(cases_path).read_text()):
        out_path = case["cwd"] + ".stdout"
        err_path = case["cwd"] + ".stderr"
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(case["file"], case["cwd"], out_path, err_path)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.monotonic() - start
        code = os.waitstatus_to_exitcode(status)
        results.append(
            {
                **case,
                "rc": code,
                "seconds": seconds,
                "max_rss_bytes": usage.ru_maxrss * 1024,
                "stdout": Path(out_path).read_text(errors="replace"),
                "stderr": Path(err_path).read_text(errors="replace"),
            }
        )
    Path(results_path).write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
