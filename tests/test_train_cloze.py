"""T_augQ cloze questions: gaps in reading order, whole-word windows, no markup, None when nothing fits."""

from __future__ import annotations

import random
import re

import pytest

from memocr.errors import InputError
from memocr.prompts import CLOZE
from memocr.train.cloze import BLANK, Cloze, is_blankable, make_cloze, memory_text

LONG_MEMORY = "\n\n".join(
    [
        "# Kelvaford bridge",
        "The **Kelvaford** bridge was finished in 1871 by the river company of Ostmere.",
        "## Builders",
        "- **Anna Lindqvist**, chief engineer, born 1832 in Harwick",
        "- Tomas Brede, foreman; later mayor of Ostmere (1880-1886)",
        "Its stone came from the quarry at Selby Rise, hauled on barges along the Vell canal. "
        "A flood in 1902 took the middle span, rebuilt in steel by 1905 with money raised by the town.",
        "### Notes",
        "The toll was abolished in 1921 and the bridge listed as a monument in 1977, "
        "two years after the *Ostmere Herald* campaign.",
    ]
)


def fill(cloze: Cloze) -> str:
    passage = cloze.passage
    for word in cloze.words:
        passage = passage.replace(BLANK, word, 1)
    return passage


@pytest.mark.parametrize("seed", range(30))
def test_gaps_are_the_words_in_reading_order(seed: int) -> None:
    cloze = make_cloze(LONG_MEMORY, random.Random(seed))
    assert cloze is not None
    assert cloze.passage.count(BLANK) == 3 == len(cloze.words)
    assert all(is_blankable(word) for word in cloze.words)
    assert fill(cloze) == cloze.window
    assert cloze.gold == ", ".join(cloze.words)
    tokens, gaps = cloze.window.split(" "), cloze.passage.split(" ")
    positions = [i for i, token in enumerate(gaps) if token == BLANK]
    assert [tokens[i] for i in positions] == list(cloze.words)


@pytest.mark.parametrize("seed", range(30))
def test_window_is_whole_words_of_about_the_requested_length(seed: int) -> None:
    text = memory_text(LONG_MEMORY)
    assert len(text) > 300
    cloze = make_cloze(LONG_MEMORY, random.Random(seed), window_chars=120)
    assert cloze is not None
    start = text.index(cloze.window)
    end = start + len(cloze.window)
    assert start == 0 or text[start - 1] == " "
    assert end == len(text) or text[end] == " "
    last_word = cloze.window.rsplit(" ", 1)[-1]
    assert 120 <= len(cloze.window) <= 120 + len(last_word)


def test_windows_cover_the_whole_memory_over_seeds() -> None:
    text = memory_text(LONG_MEMORY)
    starts = {
        text.index(make_cloze(LONG_MEMORY, random.Random(seed), window_chars=80).window)
        for seed in range(200)
    }
    assert 0 in starts
    assert len(starts) > 20
    assert max(starts) <= len(text) - 80


def test_short_memory_is_one_window() -> None:
    cloze = make_cloze("The Vell canal reached Ostmere in 1871.", random.Random(0))
    assert cloze is not None
    assert cloze.window == "The Vell canal reached Ostmere in 1871."
    assert set(cloze.words) <= {"The", "Vell", "canal", "reached", "Ostmere", "1871"}


def test_same_seed_same_question_and_prompt() -> None:
    first, second = (make_cloze(LONG_MEMORY, random.Random(7)) for _ in range(2))
    assert first == second
    assert first is not None
    assert first.prompt == CLOZE.format(passage=first.passage)
    assert first.passage in first.prompt


def test_markup_does_not_leak_into_the_passage() -> None:
    text = memory_text(LONG_MEMORY)
    assert "#" not in text and "**" not in text and "*" not in text
    assert text.startswith("Kelvaford bridge The Kelvaford bridge")
    for seed in range(20):
        cloze = make_cloze(LONG_MEMORY, random.Random(seed))
        assert cloze is not None
        assert "#" not in cloze.passage and "**" not in cloze.passage
        assert not re.search(r"<[a-z/]", cloze.passage)


def test_html_entities_are_decoded() -> None:
    memory = "Smith &amp; Sons built the caf&eacute; at Harwick, 5 &lt; 7, AT&T."
    text = memory_text(memory)
    assert text == "Smith & Sons built the café at Harwick, 5 < 7, AT&T."
    cloze = make_cloze(memory, random.Random(1), blanks=4)
    assert cloze is not None
    assert "&amp;" not in cloze.passage and "&eacute;" not in cloze.passage
    assert set(cloze.words) <= {"Smith", "Sons", "built", "the", "café"}


def test_scripts_and_styles_are_not_text() -> None:
    assert memory_text("Visible words here\n\n<script>var hidden = 1;</script>\n\n<style>p {}</style>") == (
        "Visible words here"
    )


@pytest.mark.parametrize(
    "memory",
    [
        "",
        "   \n\n  ",
        "No previous memory",  # two blankable words only
        "a an of to in at by",  # all too short
        "... --- !!! ??? ,,, ;;; (1) [2]",
        "Paris, London; Berlin.",  # punctuation glued to every word
        "🚀🚀🚀 🎉🎉🎉 ✨✨✨ 🌍🌍🌍",
        "東京タワーは1958年に完成した。",  # one token, ends in a full stop
    ],
)
def test_nothing_to_blank_gives_none(memory: str) -> None:
    assert make_cloze(memory, random.Random(0)) is None


def test_blankable_words_too_far_apart_for_one_window_give_none() -> None:
    memory = "Kelvaford " + "-- " * 200 + "Ostmere " + "-- " * 200 + "Harwick"
    assert make_cloze(memory, random.Random(0)) is None
    assert make_cloze(memory, random.Random(0), blanks=1) is not None


def test_cjk_words_separated_by_spaces_count_as_words() -> None:
    cloze = make_cloze("京都府 名古屋市 北海道 東京", random.Random(0))
    assert cloze is not None
    assert cloze.words == ("京都府", "名古屋市", "北海道")  # 東京 is two characters
    assert cloze.passage == f"{BLANK} {BLANK} {BLANK} 東京"


def test_emoji_next_to_words_are_not_blanked() -> None:
    cloze = make_cloze("Kelvaford🚀 Ostmere Harwick Selby 🎉", random.Random(0))
    assert cloze is not None
    assert cloze.words == ("Ostmere", "Harwick", "Selby")


@pytest.mark.parametrize(("window_chars", "blanks"), [(0, 3), (300, 0), (-5, 3)])
def test_bad_settings_are_input_errors(window_chars: int, blanks: int) -> None:
    with pytest.raises(InputError):
        make_cloze(LONG_MEMORY, random.Random(0), window_chars=window_chars, blanks=blanks)
