"""A random-mask trial exports natively (issue 20): `s3delta export FOLDER OUT --format
native` writes a plain transformers model with the trained weights in place, whose card's
snippet loads offline in a fresh interpreter and scores like the trial's own file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import SHARED_DATA
from workers.trial import run_trial
from workers.trial_types import TrialConfig

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data"
)
CLI = Path(sys.executable).parent / "s3delta"


@pytest.mark.heavy
def test_random_mask_exports_natively_and_loads_offline(tiny_bert_dir, tmp_path) -> None:
    from transformers import AutoModel

    from search_space.random_mask import changed_count
    from workers.mask_export import load_masked

    trial = tmp_path / "trial"
    result = run_trial(
        TrialConfig(
            model=str(tiny_bert_dir), task="glue/sst2", method="random-mask", budget="0.5%",
            seed=2, data_dir=str(SHARED_DATA), max_train_examples=64, max_eval_examples=32,
            max_length=24, batch_size=8, retrain_steps=4, eval_every=2, num_threads=1,
            delta_lr=5e-2, output_dir=str(trial),
        )
    )  # fmt: skip
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    peft = subprocess.run([str(CLI), "export", str(trial), str(tmp_path / "p")], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert peft.returncode != 0 and "--format native" in peft.stderr  # says where to go
    out = tmp_path / "native"
    done = subprocess.run(
        [str(CLI), "export", str(trial), str(out), "--format", "native"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\nbase_model: ")
    assert f"{result.delta_params:,} randomly chosen weights" in card
    # a plain transformers model: only masked elements differ from the pretrained one
    native = AutoModel.from_pretrained(out)
    moved = changed_count(native, AutoModel.from_pretrained(tiny_bert_dir))
    assert 0 < moved <= result.delta_params
    # the card's snippet, in a fresh offline interpreter
    snippet = re.search(r"```python\n(.*?)```", card, re.S).group(1)  # type: ignore[union-attr]
    ran = subprocess.run([sys.executable, "-c", snippet + "\nprint(type(model).__name__)"],
                         env={**env, "PYTHONPATH": str(Path.cwd())}, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert ran.returncode == 0 and "TaskModel" in ran.stdout, ran.stderr[-2000:]
    # the exported folder scores exactly like the trial's own file
    a, b = load_masked(out), load_masked(trial / "random_mask.safetensors")
    batch = a.tokenizer(["a fine film", "dull and slow"], return_tensors="pt", padding=True)
    with torch.no_grad():
        assert torch.equal(a.logits(dict(batch)), b.logits(dict(batch)))
