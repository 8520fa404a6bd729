"""A shortened task file is accepted with a warning and a note in the run's protocol
(issue 23, fault 7: SST-2's train cut at a line boundary to 30 rows gave no word)."""

from __future__ import annotations

import shutil
import warnings

import pytest

from tests.conftest import SHARED_DATA
from workers.data import get_task, load_task, make_splits
from workers.data.sizes import ShortSplitWarning

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data"
)


def test_official_files_load_silently() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShortSplitWarning)
        for task in ("glue/sst2", "glue/cola", "glue/rte", "superglue/wic"):
            assert not any("official" in n for n in load_task(task, SHARED_DATA).notes)


def test_a_train_file_cut_to_30_rows_is_warned_about_and_recorded(tmp_path) -> None:
    folder = tmp_path / "glue" / "SST-2"
    folder.mkdir(parents=True)
    shutil.copy(SHARED_DATA / "glue" / "SST-2" / "dev.tsv", folder / "dev.tsv")
    lines = (SHARED_DATA / "glue" / "SST-2" / "train.tsv").read_text().splitlines(True)
    (folder / "train.tsv").write_text("".join(lines[:31]))  # header + 30 rows
    with pytest.warns(
        ShortSplitWarning, match=r"train has 30 examples where the official SST-2 train has 67,349"
    ):
        data = load_task("glue/sst2", tmp_path)
    assert len(data.train or []) == 30
    splits = make_splits(data, get_task("glue/sst2"), seed=1, dev_holdout=10)
    assert "train has 30 examples" in splits.protocol  # what every run record carries
