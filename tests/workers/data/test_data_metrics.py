"""Official metrics against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest

from workers.data import compute_metrics, get_task, primary_score


def test_cola_mcc_from_a_2x2_confusion_matrix() -> None:
    # TP=3 (rows 0,1,6), FN=1 (row 2), FP=1 (row 5), TN=3 (rows 3,4,7)
    # MCC = (3*3 - 1*1) / sqrt((3+1)(3+1)(3+1)(3+1)) = 8 / 16 = 0.5
    gold = [1, 1, 1, 0, 0, 0, 1, 0]
    pred = [1, 1, 0, 0, 0, 1, 1, 0]
    assert compute_metrics(get_task("glue/cola"), pred, gold) == {"mcc": pytest.approx(0.5)}


def test_constant_predictions_give_mcc_zero_not_nan() -> None:
    assert compute_metrics(get_task("glue/cola"), [1, 1, 1, 1], [1, 0, 1, 0]) == {"mcc": 0.0}


def test_mrpc_f1_and_accuracy_and_their_mean_as_primary_score() -> None:
    # TP=2 (rows 0,2), FP=1 (row 1), FN=1 (row 3), TN=1 (row 4)
    # F1 = 2*2 / (2*2 + 1 + 1) = 4/6; accuracy = 3/5
    spec = get_task("glue/mrpc")
    scores = compute_metrics(spec, [1, 1, 1, 0, 0], [1, 0, 1, 1, 0])
    assert scores == {"f1": pytest.approx(4 / 6), "accuracy": pytest.approx(0.6)}
    assert primary_score(spec, scores) == pytest.approx((4 / 6 + 0.6) / 2)


def test_f1_is_zero_when_nothing_is_predicted_positive() -> None:
    scores = compute_metrics(get_task("glue/qqp"), [0, 0, 0], [1, 0, 1])
    assert scores == {"f1": 0.0, "accuracy": pytest.approx(1 / 3)}


def test_stsb_pearson_and_spearman() -> None:
    # pred x = 1,2,3,4 (mean 2.5, dx = -1.5,-.5,.5,1.5, sum dx^2 = 5)
    # gold y = 1,3,2,10 (mean 4, dy = -3,-1,-2,6, sum dy^2 = 50), sum dx*dy = 4.5+.5-1+9 = 13
    # pearson = 13 / sqrt(5 * 50) = 13 / sqrt(250)
    # ranks of y = 1,3,2,4 -> d = 0,-1,1,0, sum d^2 = 2 -> spearman = 1 - 6*2/(4*15) = 0.8
    scores = compute_metrics(get_task("glue/stsb"), [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 10.0])
    assert scores == {"pearson": pytest.approx(13 / 250**0.5), "spearman": pytest.approx(0.8)}


def test_constant_regression_predictions_give_zero_correlations() -> None:
    scores = compute_metrics(get_task("glue/stsb"), [2.5, 2.5, 2.5], [1.0, 3.0, 5.0])
    assert scores == {"pearson": 0.0, "spearman": 0.0}


def test_cb_macro_f1_over_three_classes() -> None:
    # class 0: TP1 FN1 -> F1 2/3; class 1: TP1 FP1 -> 2/3; class 2: TP1 -> 1
    # macro = (2/3 + 2/3 + 1) / 3 = 7/9; accuracy 3/4
    scores = compute_metrics(get_task("superglue/cb"), [0, 1, 1, 2], [0, 0, 1, 2])
    assert scores == {"macro_f1": pytest.approx(7 / 9), "accuracy": pytest.approx(0.75)}


def test_multirc_f1a_over_answers_and_exact_match_per_question() -> None:
    # answers: TP=2 (rows 0,5), FN=1 (row 2), FP=0 -> f1a = 4/5
    # questions: 0 has row 2 wrong, 1 and 2 all right -> em = 2/3
    groups = [0, 0, 0, 1, 1, 2]
    gold = [1, 0, 1, 0, 0, 1]
    pred = [1, 0, 0, 0, 0, 1]
    scores = compute_metrics(get_task("superglue/multirc"), pred, gold, groups)
    assert scores == {"f1a": pytest.approx(0.8), "em": pytest.approx(2 / 3)}


def test_invalid_t5_output_counts_as_wrong_not_as_a_class() -> None:
    # -1 on a gold positive is a false negative: F1 0; macro-F1 over classes {0, 2}: (1 + 0) / 2
    assert compute_metrics(get_task("glue/mrpc"), [-1, 0], [1, 0]) == {
        "f1": 0.0,
        "accuracy": 0.5,
    }
    cb = compute_metrics(get_task("superglue/cb"), [0, -1], [0, 2])
    assert cb == {"macro_f1": pytest.approx(0.5), "accuracy": 0.5}


def test_bad_metric_inputs_are_rejected_with_the_fix() -> None:
    with pytest.raises(ValueError, match="equally long"):
        compute_metrics(get_task("glue/rte"), [0, 1], [0])
    with pytest.raises(ValueError, match="non-empty"):
        compute_metrics(get_task("glue/rte"), [], [])
    with pytest.raises(ValueError, match=r"groups=\[example\.group"):
        compute_metrics(get_task("superglue/multirc"), [0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"metrics \['em'\] missing"):
        primary_score(get_task("superglue/multirc"), {"f1a": 0.5})
