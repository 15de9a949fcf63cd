"""The training reward: whole-string match of the last box in the last 300 characters, nothing lenient."""

from __future__ import annotations

import pytest

from memocr.errors import InputError
from memocr.metrics import paper_boxed, score, sub_exact_match
from memocr.train.rewards import (
    CLOZE_REWARDS,
    READ_LAST_CHARS,
    cloze_f1_reward,
    cloze_reward,
    normalize,
    qa_reward,
)


@pytest.mark.parametrize("short", ["a", "k", "the", "ford"])
def test_short_answers_cannot_game_the_reward_as_they_game_sub_em(short: str) -> None:
    response = f"It is \\boxed{{{short}}}"
    assert qa_reward(response, ["Kelvaford"]) == 0.0
    # The evaluation's sub-EM gives all of these full marks ("a" and "the" normalise to "").
    assert sub_exact_match(short, ["Kelvaford"]) == 1.0
    assert score(response, ["Kelvaford"]).sub_em == 1.0


@pytest.mark.parametrize(
    ("response", "golds", "expected"),
    [
        (r"The bridge is \boxed{Kelvaford}.", ["Kelvaford"], 1.0),
        (r"\boxed{KELVAFORD}", ["kelvaford"], 1.0),
        (r"\boxed{kelva ford}", ["Kelva Ford"], 1.0),
        (r"\boxed{kelvaford}", ["Kelva Ford"], 1.0),  # spaces are removed on both sides
        ("\\boxed{Kelva\nford}", ["Kelvaford"], 1.0),
        ("\\boxed{Kelva\tford}", ["Kelvaford"], 0.0),  # only ASCII spaces and newlines go
        (r"\boxed{New York City}", ["NYC", "New York City"], 1.0),
        (r"\boxed{NYC}", ["NYC", "New York City"], 1.0),
        (r"\boxed{New York}", ["NYC", "New York City"], 0.0),
        (r"\boxed{Ostmere} no, \boxed{Kelvaford}", ["Kelvaford"], 1.0),
        (r"\boxed{Kelvaford} no, \boxed{Ostmere}", ["Kelvaford"], 0.0),
        ("Kelvaford", ["Kelvaford"], 0.0),
        ("The answer is Kelvaford.", ["Kelvaford"], 0.0),
        (r"\boxed{Kelvaford", ["Kelvaford"], 0.0),  # never closed
        (r"\fbox{Kelvaford}", ["Kelvaford"], 0.0),
        (r"\boxed{\text{Kelvaford}}", ["Kelvaford"], 0.0),  # wrappers are not removed
        (r"\boxed{\mathrm{Kelvaford}}", ["Kelvaford"], 0.0),
        (r"\boxed{{Kelvaford}}", ["Kelvaford"], 0.0),  # nor braces
        (r"\boxed{Kelvaford.}", ["Kelvaford"], 0.0),  # nor punctuation
        (r"\boxed{the Kelvaford bridge}", ["Kelvaford bridge"], 0.0),  # nor articles
        (r"\boxed{\frac{1}{2}}", [r"\frac{1}{2}"], 1.0),  # nested braces balance
        (r"\boxed{\dfrac{1}{2}}", [r"\frac{1}{2}"], 1.0),
        (r"\boxed{\left(3\right)}", ["(3)"], 1.0),
        (r"\boxed{90^\circ}", ["90"], 1.0),
        (r"\boxed{50\%}", ["50"], 1.0),
        (r"\boxed{50\%}", ["50%"], 0.0),
        (r"\boxed{ .5}", ["0.5"], 1.0),
        (r"\boxed{}", ["Kelvaford"], 0.0),
        (r"so \boxed Kelvaford$ done", ["Kelvaford"], 1.0),  # the space form, up to the next $
        (r"\boxed{Ostmere} and \boxed Kelvaford", ["Kelvaford"], 1.0),  # the space form wins
        (r"\boxed Kelvaford, not \boxed{Ostmere}", ["Kelvaford"], 0.0),  # ... even before a later box
        (r"\boxed Kelvaford, not \boxed{Ostmere}", ["Ostmere"], 0.0),
        (r"\boxedx{Kelvaford}", ["Kelvaford"], 0.0),
    ],
)
def test_reward_cases(response: str, golds: list[str], expected: float) -> None:
    assert qa_reward(response, golds) == expected


def test_only_the_last_300_characters_are_read() -> None:
    box = r"\boxed{Kelvaford}"
    inside = box + "x" * (READ_LAST_CHARS - len(box))
    assert len(inside) == READ_LAST_CHARS
    assert qa_reward(inside, ["Kelvaford"]) == 1.0
    assert qa_reward(inside + "x", ["Kelvaford"]) == 0.0  # the cut falls on the backslash
    assert qa_reward(box + " " * 1000, ["Kelvaford"]) == 0.0
    earlier = r"\boxed{Kelvaford} " + "x" * 400 + r" \boxed{Ostmere}"
    assert qa_reward(earlier, ["Ostmere"]) == 1.0


def test_a_box_opened_before_the_window_is_not_read() -> None:
    response = r"\boxed{" + "x" * 320 + "}"
    assert paper_boxed(response[-READ_LAST_CHARS:].lower()) is None
    assert qa_reward(response, ["x" * 320]) == 0.0


def test_boxed_answer_is_raw() -> None:
    assert paper_boxed(r"a \boxed{\text{x} {y}} b") == r"\text{x} {y}"
    assert paper_boxed("no box") is None


def test_normalize_is_literal_substring_replacement() -> None:
    assert normalize("\\leftarrow") == "arrow"
    assert normalize("a \\! b\n c") == "abc"
    assert normalize("\\\\x") == "\\x"
    assert normalize("Paris.") == "Paris."
    assert normalize("") == ""


@pytest.mark.parametrize(
    ("response", "expected"),
    [(r"\boxed{x}", 1.0), (r"\boxed{X }", 1.0), ("x", 0.0), (r"\boxed{xy}", 0.0), (r"\boxed{y} x", 0.0)],
)
def test_reward_is_exactly_one_or_zero_with_no_partial_credit(response: str, expected: float) -> None:
    reward = qa_reward(response, ["x"])
    assert type(reward) is float and reward == expected


def test_bad_golds() -> None:
    with pytest.raises(InputError):
        qa_reward(r"\boxed{x}", [])
    with pytest.raises(TypeError):
        qa_reward(r"\boxed{x}", "x")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (r"\boxed{mayor, 1902, Notes}", 1.0),
        (r"\boxed{Mayor,1902,notes}", 1.0),
        ("\\boxed{mayor,\n1902, notes}", 1.0),
        (r"\boxed{1902, mayor, Notes}", 0.0),  # order matters
        (r"\boxed{mayor, 1902}", 0.0),  # all three are needed
        (r"\boxed{mayor; 1902; Notes}", 0.0),
        (r"\boxed{mayor, 1902, Notes.}", 0.0),
        (r"\boxed{\text{mayor, 1902, Notes}}", 0.0),
        (r"\boxed{mayor, 1902, Notes", 0.0),
        ("mayor, 1902, Notes", 0.0),
        (r"\boxed{wrong} then \boxed{mayor, 1902, notes}", 1.0),
    ],
)
def test_cloze_reward(response: str, expected: float) -> None:
    assert cloze_reward(response, ["mayor", "1902", "Notes"]) == expected


def test_cloze_reward_unicode_case() -> None:
    assert cloze_reward(r"\boxed{über, café, ÉTÉ}", ["Über", "Café", "été"]) == 1.0


def test_bad_cloze_words() -> None:
    with pytest.raises(InputError):
        cloze_reward(r"\boxed{}", [])
    with pytest.raises(TypeError):
        cloze_reward(r"\boxed{a, b}", "a, b")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (r"\boxed{river, 1871, Kelvaford}", 1.0),
        ("river, 1871, Kelvaford", 1.0),  # no box: the whole reply is the stated answer
        ("The answer is river and 1871", pytest.approx(2 * (2 / 3 * 2 / 3) / (4 / 3))),
        ("no words from the passage", 0.0),
    ],
)
def test_the_f1_cloze_reward_credits_each_blank_filled(response: str, expected) -> None:
    words = ["river", "1871", "Kelvaford"]
    assert cloze_f1_reward(response, words) == expected
    assert CLOZE_REWARDS["f1"] is cloze_f1_reward and CLOZE_REWARDS["boxed"] is cloze_reward
    with pytest.raises(InputError):
        cloze_f1_reward(response, [])
