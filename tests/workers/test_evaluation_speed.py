"""Issue 9: one-pass, length-sorted evaluation; the encoded-data cache; the time breakdown."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import SHARED_DATA
from workers.data import (
    Example,
    batches,
    compute_metrics,
    encode_for_encoder,
    get_task,
    length_order,
    primary_score,
)
from workers.data.encode_cache import EncodeCache, cache_key
from workers.evaluate import evaluate
from workers.task_model import TaskModel
from workers.timings import BUCKETS

SENTENCES = [
    "a",
    "a much longer sentence than the first one, with many more words in it",
    "mid length sentence here",
    "b c",
    "the longest sentence of them all, which keeps going and going until it is truncated by the limit",
    "short one",
    "another of middling length, sort of",
]


def _examples(kind: str) -> list[Example]:
    if kind == "regression":
        return [Example(i, s, float(i % 5), text_b=s[::-1]) for i, s in enumerate(SENTENCES)]
    return [Example(i, s, i % 2) for i, s in enumerate(SENTENCES)]


def _two_pass(model: TaskModel, encoded, examples, batch_size: int):
    """The evaluation as it was: stored order, loss and predictions in separate passes."""
    model.eval()
    preds, losses = [], []
    with torch.no_grad():
        for batch in batches(encoded, batch_size, seed=None):
            losses.append(float(model.loss(batch)) * len(batch["example_index"]))
            preds.extend(model.predict(batch))
    metrics = compute_metrics(model.spec, preds, [e.label for e in examples])  # type: ignore[arg-type]
    return metrics, primary_score(model.spec, metrics), sum(losses) / len(examples), preds


@pytest.mark.parametrize(("task", "kind"), [("glue/cola", "classification"), ("glue/stsb", "regression")])
def test_one_pass_sorted_evaluation_equals_two_pass(tiny_bert_dir, task, kind):
    from search_space import load_backbone

    backbone, tok = load_backbone(str(tiny_bert_dir))
    spec = get_task(task)
    torch.manual_seed(0)
    model = TaskModel(backbone, spec, False)
    examples = _examples(kind)
    encoded = encode_for_encoder(spec, examples, tok, 24)
    old_metrics, old_score, old_loss, _ = _two_pass(model, encoded, examples, 3)
    calls = []
    handle = backbone.register_forward_hook(lambda *a: calls.append(1))
    metrics, score, loss = evaluate(model, encoded, examples, 3, torch.device("cpu"))
    handle.remove()
    assert len(calls) == 3  # ceil(7 / 3) batches, one forward each (two passes made 6)
    assert metrics.keys() == old_metrics.keys()
    for name in metrics:
        assert metrics[name] == pytest.approx(old_metrics[name], abs=1e-6)
    assert score == pytest.approx(old_score, abs=1e-6)
    assert loss == pytest.approx(old_loss, rel=1e-5)


def test_length_order_is_restored(tiny_bert_dir):
    """Predictions come back in the split's order even though batches run shortest first."""
    from search_space import load_backbone
    from workers.evaluate import predict_all

    backbone, tok = load_backbone(str(tiny_bert_dir))
    spec = get_task("glue/stsb")
    model = TaskModel(backbone, spec, False)
    examples = _examples("regression")
    encoded = encode_for_encoder(spec, examples, tok, 24)
    order = length_order(encoded)
    lengths = encoded["attention_mask"].sum(-1)
    assert lengths[order].tolist() == sorted(lengths.tolist())
    assert order.tolist() != list(range(len(examples)))  # the test data is not already sorted
    preds, _ = predict_all(model, encoded, 2, torch.device("cpu"))
    with torch.no_grad():
        for i in range(len(examples)):  # each example alone, unpadded
            alone = {k: v[i : i + 1] for k, v in encoded.items()}
            used = int(alone["attention_mask"].sum())
            alone = {
                k: (v[:, :used] if k in ("input_ids", "attention_mask", "token_type_ids") else v)
                for k, v in alone.items()
            }
            assert preds[i] == pytest.approx(model.predict(alone)[0], abs=1e-5)


def test_length_order_of_choice_rows_uses_the_longest_alternative():
    mask = torch.tensor([[[1, 1, 1, 0], [1, 0, 0, 0]], [[1, 1, 0, 0], [1, 1, 0, 0]], [[1, 0, 0, 0], [1, 1, 1, 1]]])
    assert length_order({"attention_mask": mask, "labels": torch.zeros(3)}).tolist() == [1, 0, 2]


def _cache_call(cache: EncodeCache, tok, examples, max_length=24, counter=None):
    spec = get_task("glue/cola")

    def encode(rows):
        if counter is not None:
            counter.append(1)
        return encode_for_encoder(spec, rows, tok, max_length)

    return cache.encode(
        encode, examples, split="dev", encoder_kind="encoder", task=spec.name,
        max_length=max_length, tokenizer=tok,
    )


def test_cache_reuses_entries_and_keys_change_with_what_changes_tensors(tiny_bert_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    examples = _examples("classification")
    cache, encodes = EncodeCache(tmp_path), []
    first = _cache_call(cache, tok, examples, counter=encodes)
    second = _cache_call(EncodeCache(tmp_path), tok, examples, counter=encodes)
    assert len(encodes) == 1  # the second trial read the entry
    assert first.keys() == second.keys()
    for k in first:
        assert torch.equal(first[k], second[k])
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".safetensors"]

    def key(**kw):
        args = dict(encoder_kind="encoder", task="glue/cola", examples=examples, max_length=24, tokenizer=tok)
        args.update(kw)
        return cache_key(**args)["key"]  # type: ignore[arg-type]

    base = key()
    changed = [
        key(max_length=25),
        key(encoder_kind="t5"),
        key(task="glue/sst2"),
        key(examples=examples[:-1]),
        key(examples=[*examples[1:], examples[0]]),  # same rows, another order (seed/protocol)
        key(examples=[Example(0, "a", 1), *examples[1:]]),  # one label differs
    ]
    other_tok = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    other_tok.add_tokens(["zzzqqq"])
    changed.append(key(tokenizer=other_tok))
    assert base == key()
    assert len({base, *changed}) == len(changed) + 1


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "bad_json", "wrong_rows"])
def test_corrupt_cache_entry_is_detected_and_rebuilt(tiny_bert_dir, tmp_path, damage):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    examples = _examples("classification")
    good = _cache_call(EncodeCache(tmp_path), tok, examples)
    tensors = next(tmp_path.glob("*.safetensors"))
    meta = next(tmp_path.glob("*.json"))
    if damage == "flip_byte":
        data = bytearray(tensors.read_bytes())
        data[-3] ^= 0xFF
        tensors.write_bytes(bytes(data))
    elif damage == "truncate":
        tensors.write_bytes(tensors.read_bytes()[:40])
    elif damage == "bad_json":
        meta.write_text("{not json")
    else:  # a consistent file with the wrong number of rows (hash updated to match)
        from safetensors.torch import save_file

        from workers.data.encode_cache import _file_sha256

        save_file({k: v[:2].contiguous() for k, v in good.items()}, str(tensors))
        record = json.loads(meta.read_text())
        record["sha256"] = _file_sha256(tensors)
        meta.write_text(json.dumps(record))
    encodes: list[int] = []
    cache = EncodeCache(tmp_path)
    again = _cache_call(cache, tok, examples, counter=encodes)
    assert encodes == [1] and cache.rebuilt == 1
    for k in good:
        assert torch.equal(good[k], again[k])
    third = EncodeCache(tmp_path)
    _cache_call(third, tok, examples, counter=encodes)
    assert encodes == [1] and third.hits == 1  # the rebuilt entry is good


@pytest.mark.skipif(not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data")
def test_trial_records_a_time_breakdown_and_uses_the_cache(tiny_bert_dir, tmp_path):
    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    cfg = TrialConfig(
        model=str(tiny_bert_dir), task="glue/sst2", method="s3delta", budget="0.1%", seed=3,
        data_dir=str(SHARED_DATA), max_train_examples=64, max_eval_examples=32, max_length=24,
        batch_size=8, search_steps=4, retrain_steps=4, eval_every=2, num_threads=1,
        cache_dir=str(tmp_path / "cache"), checkpoint_dir=str(tmp_path / "ck"), checkpoint_every=2,
    )
    first = run_trial(cfg)
    t = first.timings
    assert set(t) == {*BUCKETS, "other", "wall"}
    assert all(v >= 0 for v in t.values())
    assert t["search_steps"] > 0 and t["retrain_steps"] > 0 and t["evaluation"] > 0
    assert t["model_load"] > 0 and t["data"] > 0 and t["checkpoints"] > 0
    assert sum(v for k, v in t.items() if k != "wall") == pytest.approx(t["wall"], rel=0.02, abs=0.05)
    assert t["wall"] <= first.wall_time_s + 0.05
    # each split tokenised once per trial: train (the search's two halves are rows of it),
    # dev (shared by search and retrain) and test
    names = sorted(p.name.split("-")[2] for p in (tmp_path / "cache").glob("*.safetensors"))
    assert names == ["dev", "test", "train"]
    again = run_trial(cfg.model_copy(update={"checkpoint_dir": str(tmp_path / "ck2")}))
    assert (again.dev, again.test, again.structure) == (first.dev, first.test, first.structure)
