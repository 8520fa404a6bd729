"""Loaders on the real shared files, on official-format fixtures and on malformed files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from datasets import Dataset

from workers.data import (
    TaskDataError,
    get_task,
    hub_rows_to_examples,
    load_local,
    load_task,
)

FIXTURES = Path(__file__).parents[2] / "fixtures"
GOOD_DATA = FIXTURES / "glue_superglue"  # official formats, real rows
BAD_DATA = FIXTURES / "bad_task_data"  # one data root per error class

REAL_COUNTS = [  # (task, train rows, validation rows) from /work/shared/data/README.md
    ("glue/rte", 2490, 277),
    ("glue/cola", 8551, 1043),
    ("glue/stsb", 5749, 1500),
    ("glue/sst2", 67349, 872),
    ("superglue/rte", 2490, 277),
    ("superglue/boolq", None, 3270),
    ("superglue/wic", None, 638),
    ("superglue/multirc", None, 4848),
]


@pytest.mark.parametrize(("task", "n_train", "n_val"), REAL_COUNTS)
def test_real_files_load_with_official_row_counts(
    shared_data: Path, task: str, n_train: int | None, n_val: int
) -> None:
    loaded = load_task(task, shared_data)
    assert len(loaded.validation) == n_val
    if n_train is None:
        assert loaded.train is None
        assert "split_validation_as_train" in (loaded.train_missing or "")
    else:
        assert loaded.train is not None and len(loaded.train) == n_train


def test_real_label_distributions_match_the_readme(shared_data: Path) -> None:
    rte = load_local("glue/rte", shared_data)
    assert rte.train is not None
    # 1249 entailment (id 0) / 1241 not_entailment (id 1)
    assert Counter(e.label for e in rte.train) == {0: 1249, 1: 1241}
    cola = load_local("glue/cola", shared_data)
    assert Counter(e.label for e in cola.validation) == {1: 721, 0: 322}
    boolq = load_local("superglue/boolq", shared_data)
    assert Counter(e.label for e in boolq.validation) == {1: 2033, 0: 1237}


def test_real_text_keeps_quote_characters(shared_data: Path) -> None:
    # with CSV quoting, 56 RTE train rows lose their quotes or merge fields
    rte = load_local("glue/rte", shared_data)
    assert rte.train is not None
    assert sum('"' in e.text_a + (e.text_b or "") for e in rte.train) >= 56


def test_real_multirc_has_953_question_groups(shared_data: Path) -> None:
    multirc = load_local("superglue/multirc", shared_data)
    assert len({e.group for e in multirc.validation}) == 953
    first = multirc.validation[0]
    assert first.answer == "No" and first.text_b is not None and first.text_b.startswith("Would")


def test_real_wic_spans_point_at_the_target_word(shared_data: Path) -> None:
    wic = load_local("superglue/wic", shared_data)
    first = wic.validation[0]
    assert first.word == "class" and first.spans is not None
    (s1, e1), (s2, e2) = first.spans
    assert first.text_a[s1:e1] == "class" and (first.text_b or "")[s2:e2] == "class"


def test_real_stsb_scores_are_floats(shared_data: Path) -> None:
    stsb = load_local("glue/stsb", shared_data)
    assert stsb.validation[0].label == 5.0 and stsb.validation[1].label == 4.75


FIXTURE_CASES = [  # task, train, validation, first train label, last validation label
    ("glue/mrpc", 5, 4, 1, 1),
    ("glue/qqp", 5, 3, 0, 1),
    ("glue/qnli", 4, 3, 1, 1),  # not_entailment = 1
    ("glue/mnli", 9, 4, 1, 2),  # neutral = 1, contradiction = 2
    ("superglue/cb", 5, 4, 0, 2),
    ("superglue/copa", 5, 4, 0, 1),
]


@pytest.mark.parametrize(("task", "n_train", "n_val", "first", "last"), FIXTURE_CASES)
def test_official_format_fixtures_load(
    task: str, n_train: int, n_val: int, first: int, last: int
) -> None:
    loaded = load_local(task, GOOD_DATA)
    assert loaded.train is not None
    assert (len(loaded.train), len(loaded.validation)) == (n_train, n_val)
    assert loaded.train[0].label == first and loaded.validation[-1].label == last


def test_mrpc_byte_order_mark_and_quotes_are_handled() -> None:
    mrpc = load_local("glue/mrpc", GOOD_DATA)
    assert mrpc.train is not None
    assert mrpc.train[0].text_a.startswith('Amrozi accused his brother , whom he called " the')


def test_mnli_reads_sentences_from_the_many_column_layout() -> None:
    mnli = load_local("glue/mnli", GOOD_DATA)
    assert mnli.validation[1].text_b == (
        "The Government Executive articles housed on the website are not able to be searched."
    )


def test_copa_keeps_choices_and_relation() -> None:
    copa = load_local("superglue/copa", GOOD_DATA)
    faucet = copa.validation[0]
    assert faucet.question == "effect"
    assert faucet.choices == ("The toilet filled with water.", "Water flowed from the spout.")


BAD_CASES = [  # data root, task, expected message (regex)
    ("column_count", "glue/qnli", r"QNLI/dev\.tsv, row 3: 3 tab-separated columns .* Fix: "),
    ("unparsable_label", "glue/mrpc", r"MRPC/dev\.tsv, row 4: label 'yes' is not an integer"),
    ("label_outside_set", "glue/qqp", r"row 3: label 2 is outside the label set.*0=not_duplicate"),
    ("header_lacks_column", "glue/mnli", r"row 1: header lacks columns \['gold_label'\]"),
    ("label_word_outside_set", "superglue/cb", r"row 2: label 'maybe' is not in the label set"),
    ("invalid_json", "superglue/copa", r"COPA/val\.jsonl, row 3: not valid JSON"),
    ("copa_question", "superglue/copa", r"row 2: COPA question 'reason' is neither"),
    ("score_not_number", "glue/stsb", r"row 3: score 'high' is not a number"),
    ("multirc_nesting", "superglue/multirc", r"row 1: MultiRC passage lacks 'label'"),
]


@pytest.mark.parametrize(("case", "task", "message"), BAD_CASES)
def test_malformed_files_name_task_file_row_and_fix(case: str, task: str, message: str) -> None:
    with pytest.raises(TaskDataError, match=message) as caught:
        load_local(task, BAD_DATA / case)
    assert str(caught.value).startswith(f"{task}: ") and "Fix: " in str(caught.value)


def test_missing_validation_file_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(
        TaskDataError, match=r"RTE/dev\.tsv: the official validation file is missing"
    ):
        load_local("glue/rte", tmp_path)


def test_hub_loading_offline_fails_with_the_local_alternative() -> None:
    # conftest sets HF_HUB_OFFLINE=1: the real hub path runs and reports what to do instead
    with pytest.raises(TaskDataError, match=r"hub nyu-mll/glue \(rte\).*pass a data_dir"):
        load_task("glue/rte")


def test_hub_rows_convert_like_local_rows() -> None:
    rows = Dataset.from_list(
        [
            {"sentence1": "A cat sat.", "sentence2": "A cat.", "label": 0, "idx": 0},
            {"sentence1": "It rained.", "sentence2": "It was dry.", "label": 1, "idx": 1},
        ]
    )
    examples = hub_rows_to_examples(get_task("glue/rte"), rows, "validation")
    assert [(e.text_a, e.text_b, e.label, e.idx) for e in examples] == [
        ("A cat sat.", "A cat.", 0, 0),
        ("It rained.", "It was dry.", 1, 1),
    ]


def test_hub_multirc_rows_group_by_question_id() -> None:
    base = {"paragraph": "Sam walked home.", "question": "Who walked?"}
    rows = Dataset.from_list(
        [
            {
                **base,
                "answer": "Sam",
                "idx": {"paragraph": 0, "question": 7, "answer": 0},
                "label": 1,
            },
            {
                **base,
                "answer": "Kim",
                "idx": {"paragraph": 0, "question": 7, "answer": 1},
                "label": 0,
            },
        ]
    )
    examples = hub_rows_to_examples(get_task("superglue/multirc"), rows, "validation")
    assert [(e.answer, e.group, e.label) for e in examples] == [("Sam", 7, 1), ("Kim", 7, 0)]


def test_hub_wic_and_copa_rows_keep_task_fields() -> None:
    wic = hub_rows_to_examples(
        get_task("superglue/wic"),
        Dataset.from_list(
            [
                {
                    "word": "bank",
                    "sentence1": "The bank was closed.",
                    "sentence2": "A river bank.",
                    "start1": 4,
                    "end1": 8,
                    "start2": 8,
                    "end2": 12,
                    "idx": 0,
                    "label": True,
                }
            ]
        ),
        "validation",
    )
    assert wic[0].spans == ((4, 8), (8, 12)) and wic[0].label == 1
    copa = hub_rows_to_examples(
        get_task("superglue/copa"),
        [
            {
                "premise": "P.",
                "choice1": "A.",
                "choice2": "B.",
                "question": "cause",
                "idx": 3,
                "label": 1,
            }
        ],
        "train",
    )
    assert copa[0].choices == ("A.", "B.") and copa[0].idx == 3


def test_unlabelled_hub_test_row_is_rejected_with_a_hint() -> None:
    with pytest.raises(TaskDataError, match=r"split test, row 0: label -1 .*unlabelled test row"):
        hub_rows_to_examples(
            get_task("glue/sst2"), [{"sentence": "fine", "label": -1, "idx": 0}], "test"
        )


def test_wic_span_outside_the_sentence_is_rejected() -> None:
    row = {
        "word": "x",
        "sentence1": "short",
        "sentence2": "also short",
        "start1": 2,
        "end1": 40,
        "start2": 0,
        "end2": 4,
        "label": False,
        "idx": 0,
    }
    with pytest.raises(TaskDataError, match=r"start1=2, end1=40 is not inside sentence1"):
        hub_rows_to_examples(get_task("superglue/wic"), [row], "validation")
