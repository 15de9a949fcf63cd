"""The closing headline turn's parsing and the memory it leads."""

from __future__ import annotations

import pytest

from memocr.headline import MAX_HEADLINE_CHARS, headline_answer, with_headline


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("The answer is \\boxed{Larch Crossing}.", "Larch Crossing"),
        ("Answer: the introductory stage.\nBecause the notes say so.", "the introductory stage"),
        ("\n\n  1879  \n", "1879"),
        ("\\boxed{}", None),
        ("   \n", None),
    ],
)
def test_the_answer_is_the_boxed_text_or_the_first_line_without_its_label(reply, answer):
    assert headline_answer(reply) == answer


def test_a_long_answer_is_cut_at_a_word_to_fit_a_line():
    answer = headline_answer("word " * 40)
    assert answer is not None and len(answer) <= MAX_HEADLINE_CHARS
    assert set(answer.split()) == {"word"}


def test_in_markdown_the_answer_is_the_only_heading():
    memory = "# Looking for: where **Orin Dace** was born\n- notes\n## Sources #\n```\n#!/bin/sh\n```"
    led = with_headline(memory, "Tarnby", markdown=True)
    assert led.splitlines()[0] == "# Answer: Tarnby"
    assert "**Looking for: where Orin Dace was born**" in led and "**Sources**" in led
    assert [line for line in led.splitlines() if line.startswith("#")] == ["# Answer: Tarnby", "#!/bin/sh"]


def test_in_a_text_memory_the_answer_is_the_first_line():
    assert (
        with_headline("Looking for: x\nnotes", "Tarnby", markdown=False)
        == "Answer: Tarnby\nLooking for: x\nnotes"
    )


def test_the_report_names_the_headline_turn_apart_from_the_chunks():
    from memocr.report.html import _step_info

    assert _step_info({"chunk_index": 1, "completion_tokens": 40, "seconds": 2.0}) == (
        "chunk 1, 40 tokens written, 2.0 s"
    )
    assert _step_info({"chunk_index": 2, "completion_tokens": 5, "headline": True}) == (
        "headline turn, 5 tokens written"
    )
