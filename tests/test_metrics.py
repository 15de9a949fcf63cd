"""Answer extraction and SQuAD-style scoring: the paper rule matches the released evaluation, case by case."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from memocr.errors import InputError
from memocr.metrics import (
    ANSWER_FORMATS,
    SCORING_RULES,
    Scores,
    exact_match,
    extract_answer,
    f1,
    mentions_answer,
    normalize_answer,
    score,
    sub_exact_match,
)

FIXTURE = Path(__file__).parent / "fixtures" / "scoring_cases.json"
CASES = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]


def test_fixture_is_large_and_covers_both_formats() -> None:
    assert len(CASES) >= 40
    assert len({case["id"] for case in CASES}) == len(CASES)
    assert {case["answer_format"] for case in CASES} == set(ANSWER_FORMATS)


@pytest.mark.parametrize("rule", SCORING_RULES)
@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_fixture_case(case: dict, rule: str) -> None:
    """'paper' values come from running the released scorer; 'lenient' values are our documented rule."""
    result = score(case["response"], case["golds"], scoring=rule, answer_format=case["answer_format"])
    expected = case[rule]
    assert result.answer == expected["answer"]
    assert (result.em, result.sub_em) == (expected["em"], expected["sub_em"])
    assert result.f1 == pytest.approx(expected["f1"], abs=5e-5)


def test_default_rule_is_paper_and_boxed() -> None:
    text = r"The year is \boxed{\text{1794}}. The answer is 1794."
    assert extract_answer(text) == extract_answer(text, "paper", "boxed") == r"\text{1794}"
    assert (
        score(text, ["1794"])
        == score(text, ["1794"], scoring="paper")
        == Scores(r"\text{1794}", 0.0, 0.0, 1.0)
    )
    assert score(text, ["1794"], scoring="lenient") == Scores("1794", 1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("call", "choices"),
    [
        (lambda: score(r"\boxed{x}", ["x"], scoring="strict"), "paper, lenient"),
        (lambda: extract_answer(r"\boxed{x}", scoring="Paper"), "paper, lenient"),
        (lambda: normalize_answer("x", scoring="squad"), "paper, lenient"),
        (lambda: f1("x", ["x"], scoring="lenient "), "paper, lenient"),
        (lambda: score(r"\boxed{x}", ["x"], answer_format="box"), "boxed, answer_is"),
    ],
)
def test_unknown_rule_or_format_names_the_choices(call, choices: str) -> None:
    with pytest.raises(InputError, match=choices):
        call()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\boxed{Paris}", "Paris"),
        (r"First guess \boxed{Lyon}, on reflection \boxed{Paris}.", "Paris"),
        (r"\boxed{\text{Paris}}", r"\text{Paris}"),
        (r"\boxed{ {a} and {b} }", " {a} and {b} "),
        (r"The answer is \boxed{Kestrel Ford", None),
        (r"\boxed{}", ""),
        (r"\fbox{Paris}", None),
        (r"so $\boxed 42$ holds, later \boxed{7}", "42"),
        ("The answer is Kestrel Ford.", None),
        ("<think>\\boxed{Lyon}</think>\n\\boxed{Paris}", "Paris"),
        ("", None),
    ],
)
def test_extract_answer_paper(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Therefore, the answer is Paris.", "Paris"),
        ("The answer is Paris.", None),  # the released match is lower case only
        ("the answer is: Paris\nsince", ": Paris\nsince"),
        ("the **answer** is **Paris**", "Paris"),
        (r"\boxed{Paris}", None),
    ],
)
def test_extract_answer_paper_answer_is(text: str, expected: str | None) -> None:
    assert extract_answer(text, answer_format="answer_is") == expected


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
        (r"\fbox{Paris}", "Paris"),
        (r"\boxed {Paris}", "Paris"),
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
def test_extract_answer_lenient(text: str, expected: str | None) -> None:
    assert extract_answer(text, scoring="lenient") == expected


def test_lenient_reads_the_named_format_first() -> None:
    text = r"Scratch: \boxed{Lyon}. Therefore, the answer is Paris."
    assert extract_answer(text, "lenient", "boxed") == "Lyon"
    assert extract_answer(text, "lenient", "answer_is") == "Paris"


@pytest.mark.parametrize(
    ("raw", "paper", "lenient"),
    [
        ("The Eiffel Tower", "eiffel tower", "eiffel tower"),
        ("  An   apple, a day!  ", "apple day", "apple day"),
        ("Theatre", "theatre", "theatre"),
        ("Anna", "anna", "anna"),
        ("“Kestrel Ford”—north", "“kestrel ford”—north", "kestrel fordnorth"),
        ("O'Neill's", "oneills", "oneills"),
        ("O’Neill", "o’neill", "oneill"),
        ("$5 + 3", "5 3", "5 3"),
        (r"\text{1794}", "text1794", "text1794"),
        ("Zürich", "zürich", "zürich"),
        ("Zu\u0308rich", "zu\u0308rich", "zürich"),
        ("\uff11\uff17", "\uff11\uff17", "17"),
        ("the", "", ""),
        ("", "", ""),
        ("tab\tand\nnewline", "tab and newline", "tab and newline"),
    ],
)
def test_normalize_answer(raw: str, paper: str, lenient: str) -> None:
    assert normalize_answer(raw) == paper
    assert normalize_answer(raw, scoring="lenient") == lenient


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
        (None, ["Paris"], 0.0, 0.0),
        ("Zürich", ["zürich"], 1.0, 1.0),
    ],
)
@pytest.mark.parametrize("rule", SCORING_RULES)
def test_exact_and_sub_exact_match(
    pred: str | None, golds: list[str], em: float, sub_em: float, rule: str
) -> None:
    assert exact_match(pred, golds, scoring=rule) == em
    assert sub_exact_match(pred, golds, scoring=rule) == sub_em


@pytest.mark.parametrize(
    ("pred", "golds", "paper", "lenient"),
    [
        # (em, sub_em): what normalises to nothing is inside everything for the released scorer
        ("the", ["Paris"], (0.0, 1.0), (0.0, 0.0)),
        (" ", ["Paris"], (0.0, 1.0), (0.0, 0.0)),
        ("the", ["a"], (1.0, 1.0), (0.0, 0.0)),
        ("Paris", ["", "the"], (0.0, 1.0), (0.0, 0.0)),
        ("Paris", ["the", "Paris"], (1.0, 1.0), (1.0, 1.0)),
    ],
)
def test_empty_after_normalisation(pred: str, golds: list[str], paper: tuple, lenient: tuple) -> None:
    assert (exact_match(pred, golds), sub_exact_match(pred, golds)) == paper
    assert (exact_match(pred, golds, "lenient"), sub_exact_match(pred, golds, "lenient")) == lenient


@pytest.mark.parametrize(
    ("pred", "golds", "paper", "lenient"),
    [
        ("Kestrel Ford", ["Kestrel Ford"], 1.0, 1.0),
        ("Kestrel", ["Kestrel Ford"], 0.67, 2 / 3),  # precision 1, recall 1/2
        ("the village of Kestrel Ford", ["Kestrel Ford"], 0.67, 2 / 3),  # "village of kestrel ford"
        ("Lyon", ["Paris"], 0.0, 0.0),
        ("Kestrel", ["Kestrel Ford", "Kestrel"], 1.0, 1.0),
        ("ford ford", ["ford"], 0.67, 2 / 3),  # repeated tokens count once per gold occurrence
        ("x", ["x b c d e f g h i j k l m n o"], 0.12, 0.125),  # Python's round: half to even
        ("yes it is", ["yes"], 0.0, 0.0),  # HotpotQA: yes/no/noanswer match exactly or score 0
        ("no", ["no way"], 0.0, 0.0),
        ("Yes.", ["yes"], 1.0, 1.0),
        (None, ["Paris"], 0.0, 0.0),
        ("", ["Paris"], 0.0, 0.0),
    ],
)
def test_f1(pred: str | None, golds: list[str], paper: float, lenient: float) -> None:
    assert f1(pred, golds) == paper
    assert f1(pred, golds, scoring="lenient") == pytest.approx(lenient)


@pytest.mark.parametrize("rule", SCORING_RULES)
@pytest.mark.parametrize("metric", [exact_match, f1, sub_exact_match])
def test_metrics_reject_malformed_golds(metric, rule: str) -> None:
    with pytest.raises(ValueError, match="gold"):
        metric("Paris", [], scoring=rule)
    with pytest.raises(TypeError, match="list"):
        metric("Paris", "Paris", scoring=rule)


def test_score_extracts_then_scores() -> None:
    text = r"The memory names the architect's birthplace. \boxed{\text{Kestrel Ford}}"
    assert score(text, ["Kestrel Ford"], scoring="lenient") == Scores("Kestrel Ford", 1.0, 1.0, 1.0)
    # the released scorer keeps the wrapper: "textkestrel ford" shares one token of two
    assert score(text, ["Kestrel Ford"]) == Scores(r"\text{Kestrel Ford}", 0.0, 0.5, 1.0)


def test_score_partial_answer() -> None:
    result = score("The answer is Kestrel Ford in the hills.", ["Kestrel Ford"], scoring="lenient")
    assert result.answer == "Kestrel Ford in the hills"
    assert (result.em, result.sub_em) == (0.0, 1.0)
    assert result.f1 == pytest.approx(2 / 3)  # "kestrel ford in hills": precision 1/2, recall 1


@pytest.mark.parametrize("rule", SCORING_RULES)
def test_score_without_answer_is_all_zero(rule: str) -> None:
    assert score("I cannot tell from the memory.", ["Kestrel Ford"], scoring=rule) == Scores(
        None, 0.0, 0.0, 0.0
    )


def test_scores_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        score(r"\boxed{x}", ["x"]).em = 0.0  # type: ignore[misc]


def test_mentions_answer_needs_whole_words_after_normalisation() -> None:
    assert mentions_answer("Answer: the Sun, at noon.", ["sun"])
    assert not mentions_answer("Answer: Sunday", ["Sun"])  # a word's prefix is not the word
    assert not mentions_answer("Answer:Sun", ["Sun"])  # run together, as OCR reads small text
    assert not mentions_answer("anything at all", ["", "the"])  # aliases that normalise to nothing
