"""Budget parsing and resolution, with every bad-input message."""

from __future__ import annotations

import pytest

from search_space import BudgetError, parse_budget


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("0.01%", "relative", 0.01),
        ("20000", "absolute", 20000),
        (20000, "absolute", 20000),
        ("2e4", "absolute", 20000),
        (" 0.5 % ", "relative", 0.5),
    ],
)
def test_parse_ok(text, kind, value):
    spec = parse_budget(text)
    assert spec.kind == kind and spec.value == value


def test_resolve_relative_to_backbone():
    assert parse_budget("0.01%").resolve(22_713_216) == 2271
    assert parse_budget("1000").resolve(22_713_216, min_candidate=384) == 1000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-3%", "must be greater than zero"),
        ("0", "must be greater than zero"),
        ("0%", "must be greater than zero"),
        ("abc", "is not a number"),
        ("", "is not a number"),
        (None, "is not a number"),
        (True, "is not a number"),
        ("nan", "is not finite"),
        ("150%", "more than 100%"),
        ("12.5", "fractional parameter count"),
    ],
)
def test_parse_rejects(text, message):
    with pytest.raises(BudgetError, match=message) as info:
        parse_budget(text)
    assert "0.01%" in str(info.value)  # every message shows the fix


def test_smaller_than_smallest_candidate():
    with pytest.raises(
        BudgetError, match=r"smaller than the smallest candidate \(384 parameters\)"
    ):
        parse_budget("0.0001%").resolve(22_713_216, min_candidate=384)
