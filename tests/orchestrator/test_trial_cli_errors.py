"""`s3delta trial` on broken data files: one line naming the file, exit 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

HEADER = "sentence\tlabel\n"
GOOD = HEADER + "".join(f"a {'good' if i % 2 else 'bad'} film {i}\t{i % 2}\n" for i in range(40))
BROKEN: dict[str, bytes | None] = {
    "binary": b"\xff\xfe\x00\x81\x9c garbage\x00\n" * 20,
    "header_only": HEADER.encode(),
    "empty": b"",
    "wrong_header": b"text\tgold\nhello\t1\n",
    "truncated_row": (HEADER + "a fine film\n").encode(),
    "folder": None,  # a folder where the file should be
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_train_file_is_one_line_naming_it(case: str, tmp_path: Path, tiny_bert_dir) -> None:
    folder = tmp_path / "data" / "glue" / "SST-2"
    folder.mkdir(parents=True)
    (folder / "dev.tsv").write_text(GOOD)
    train = folder / "train.tsv"
    content = BROKEN[case]
    if content is None:
        train.mkdir()
    else:
        train.write_bytes(content)
    result = CliRunner().invoke(
        app,
        [
            "trial",
            "--model",
            str(tiny_bert_dir),
            "--method",
            "manual/bitfit",
            "--data-dir",
            str(tmp_path / "data"),
            "--steps",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    if case != "folder":
        assert str(train) in lines[0], lines[0]


def test_trial_removes_its_temporary_folder_unless_kept(
    tmp_path: Path, tiny_bert_dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    folder = tmp_path / "data" / "glue" / "SST-2"
    folder.mkdir(parents=True)
    (folder / "dev.tsv").write_text(GOOD)
    (folder / "train.tsv").write_text(GOOD)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    argv = ["trial", "--model", str(tiny_bert_dir), "--method", "manual/bitfit"]
    argv += ["--data-dir", str(tmp_path / "data"), "--steps", "1", "--json"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert _json(result.stdout)["artifacts"] == {}
    assert "Loading weights" not in result.output  # only s3delta's own output
    assert list(scratch.iterdir()) == []
    kept = CliRunner().invoke(app, [*argv, "--keep"])
    assert kept.exit_code == 0, kept.output
    (left,) = scratch.iterdir()
    assert left.name.startswith("s3delta-trial-")
    assert _json(kept.stdout)["artifacts"]["delta.safetensors"].startswith(str(left))


def _json(stdout: str) -> dict:
    import json

    return dict(json.loads(stdout[stdout.index("{\n") :]))
