"""Answer extraction and SQuAD-style scoring behave as the paper's evaluation protocol describes."""

from __future__ import annotations

import dataclasses

import pytest

from memocr.metrics import (
    Scores,
    cloze_match,
    exact_match,
    extract_answer,
    f1,
    normalize_answer,
    score,
    sub_exact_match,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\boxed{Paris}", "Paris"),
        (r"First guess \boxed{Lyon}, on reflection \boxed{Paris}.", "Paris"),
        (r"\boxed{\text{Paris}}", "Paris"),
        (r"\boxed{\textbf{\text{Kestrel Ford}}}", "Kestrel Ford"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{ {a} and {b} }", "{a} and {b}"),
        (r"The answer is \boxed{Kestrel Ford", "Kestrel Ford"),
        (r"\boxed{}", ""),
        (r"\boxed{Zürich}", "Zürich"),
        (r"The answer is Lyon. Final: \boxed{Paris}", "Paris"),
        ("The answer is Kestrel Ford.", "Kestrel Ford"),
        ("the answer is: Paris  \nbecause the memory says so", "Paris"),
        ("The answer is Lyon. No wait, THE ANSWER IS Paris.", "Paris"),
        ("Reasoning...\nSo the answer is São Paulo", "São Paulo"),
        ("The answer is .", None),
        ("The answer is", None),
        ("Paris", None),
        ("", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  An   apple, a day!  ", "apple day"),
        ("Theatre", "theatre"),
        ("Anna", "anna"),
        ("“Kestrel Ford”—north", "kestrel fordnorth"),
        ("O'Neill's", "oneills"),
        ("Zürich", "zürich"),
        ("the", ""),
        ("", ""),
        ("tab\tand\nnewline", "tab and newline"),
    ],
)
def test_normalize_answer(raw: str, normalized: str) -> None:
    assert normalize_answer(raw) == normalized


@pytest.mark.parametrize(
    ("pred", "golds", "em", "sub_em"),
    [
        ("Paris", ["Paris"], 1.0, 1.0),
        ("the paris.", ["Paris"], 1.0, 1.0),
        ("Paris, France", ["Paris"], 0.0, 1.0),
        ("Ford", ["Kestrel Ford"], 0.0, 1.0),
        ("Lyon", ["Paris"], 0.0, 0.0),
        ("NYC", ["New York City", "NYC"], 1.0, 1.0),
        ("New York", ["NYC", "New York City"], 0.0, 1.0),
        # containment is on characters, as in the paper's scorer
        ("comparison", ["Paris"], 0.0, 1.0),
        ("", ["Paris"], 0.0, 0.0),
        ("the", ["Paris"], 0.0, 0.0),
        (None, ["Paris"], 0.0, 0.0),
        ("Paris", ["", "the"], 0.0, 0.0),
        ("Zürich", ["zürich"], 1.0, 1.0),
    ],
)
def test_exact_and_sub_exact_match(pred: str | None, golds: list[str], em: float, sub_em: float) -> None:
    assert exact_match(pred, golds) == em
    assert sub_exact_match(pred, golds) == sub_em


@pytest.mark.parametrize(
    ("pred", "golds", "expected"),
    [
        ("Kestrel Ford", ["Kestrel Ford"], 1.0),
        ("Kestrel", ["Kestrel Ford"], 2 / 3),  # precision 1, recall 1/2
        ("the village of Kestrel Ford", ["Kestrel Ford"], 2 / 3),  # "village of kestrel ford": p 1/2, r 1
        ("Lyon", ["Paris"], 0.0),
        ("Kestrel", ["Kestrel Ford", "Kestrel"], 1.0),
        ("ford ford", ["ford"], 2 / 3),  # repeated tokens count once per gold occurrence
        (None, ["Paris"], 0.0),
        ("", ["Paris"], 0.0),
    ],
)
def test_f1(pred: str | None, golds: list[str], expected: float) -> None:
    assert f1(pred, golds) == pytest.approx(expected)


@pytest.mark.parametrize("metric", [exact_match, f1, sub_exact_match])
def test_metrics_reject_malformed_golds(metric) -> None:
    with pytest.raises(ValueError, match="gold"):
        metric("Paris", [])
    with pytest.raises(TypeError, match="list"):
        metric("Paris", "Paris")


def test_score_extracts_then_scores() -> None:
    result = score(
        r"The memory names the architect's birthplace. \boxed{\text{Kestrel Ford}}", ["Kestrel Ford"]
    )
    assert result == Scores(answer="Kestrel Ford", em=1.0, f1=1.0, sub_em=1.0)


def test_score_partial_answer() -> None:
    result = score("The answer is Kestrel Ford in the hills.", ["Kestrel Ford"])
    assert result.answer == "Kestrel Ford in the hills"
    assert (result.em, result.sub_em) == (0.0, 1.0)
    assert result.f1 == pytest.approx(2 / 3)  # "kestrel ford in hills": precision 1/2, recall 1


def test_score_without_answer_is_all_zero() -> None:
    assert score("I cannot tell from the memory.", ["Kestrel Ford"]) == Scores(None, 0.0, 0.0, 0.0)


def test_scores_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        score(r"\boxed{x}", ["x"]).em = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("pred", "words", "expected"),
    [
        (r"\boxed{red, green, blue}", ["red", "green", "blue"], 1.0),
        (r"\boxed{Red,Green,\nBlue}".replace(r"\n", "\n"), ["red", "green", "blue"], 1.0),
        (r"\boxed{red, green}", ["Red", "Green"], 1.0),
        (r"\boxed{green, red, blue}", ["red", "green", "blue"], 0.0),
        (r"\boxed{red; green; blue}", ["red", "green", "blue"], 0.0),
        (r"\boxed{red, green, blue.}", ["red", "green", "blue"], 0.0),
        (r"\boxed{wrong} then \boxed{red, green}", ["red", "green"], 1.0),
        (r"\boxed{red, green} then \boxed{wrong}", ["red", "green"], 0.0),
        (r"\boxed{\text{red}}", ["red"], 0.0),  # the released reward does not unwrap \text
        ("red, green, blue", ["red", "green", "blue"], 0.0),
        ("The answer is red, green", ["red", "green"], 0.0),
        (None, ["red"], 0.0),
        (r"\boxed{über, café}", ["Über", "Café"], 1.0),
    ],
)
def test_cloze_match(pred: str | None, words: list[str], expected: float) -> None:
    assert cloze_match(pred, words) == expected
