"""T_augQ: a cloze question about the details of the memory, answered from its full-resolution image.

The question is the memory's own text, a window of about 300 characters with three words replaced by
``[______]``; the answer is the three words in reading order, joined by ", ". The text is what the
reader sees in the picture: the Markdown goes through the renderer's converter (Python-Markdown
``extra``, after the same stripping the renderer does) and the HTML is reduced to its text, so no ``#``
or ``**`` markup ends up in the passage and ``&amp;`` reads as ``&``. Only words made of letters and
digits (``str.isalnum``) and longer than two characters are blanked: "a" or "Paris," would make a
question the reader cannot answer exactly or one that hinges on punctuation.

Unlike the released generator, which blanks fewer words when its window has fewer than three
candidates, a window is only chosen among those that hold enough candidates, and a memory with none
gives no question at all (None).
"""

from __future__ import annotations

import random
import re
from bisect import bisect_left
from dataclasses import dataclass
from html.parser import HTMLParser
from itertools import accumulate

from memocr.errors import InputError
from memocr.prompts import CLOZE
from memocr.render.converter import markdown_to_html
from memocr.render.page import normalise_markdown

BLANK = "[______]"
_WORD = re.compile(r"\S+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Cloze:
    """One cloze question: ``passage`` (the window with gaps), the blanked ``words`` in reading order and
    ``window`` (the same text before blanking)."""

    passage: str
    words: tuple[str, ...]
    window: str

    @property
    def gold(self) -> str:
        """The expected answer, as the reward compares it: ``"w1, w2, w3"``."""
        return ", ".join(self.words)

    @property
    def prompt(self) -> str:
        return CLOZE.format(passage=self.passage)


class _TextExtractor(HTMLParser):
    """Text content of an HTML fragment, entities decoded; script and style bodies are not drawn, so
    they are not text the reader could see."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def memory_text(memory_markdown: str) -> str:
    """The visible text of a Markdown memory, whitespace collapsed to single spaces."""
    extractor = _TextExtractor()
    extractor.feed(markdown_to_html(normalise_markdown(memory_markdown)))
    extractor.close()
    return _WHITESPACE.sub(" ", "".join(extractor.parts)).strip()


def is_blankable(word: str) -> bool:
    return word.isalnum() and len(word) > 2


def make_cloze(
    memory_markdown: str, rng: random.Random, window_chars: int = 300, blanks: int = 3
) -> Cloze | None:
    """A cloze question on a random window of the memory's text, or None when there is none to ask.

    The window starts at a word and ends at the first word end at least ``window_chars`` characters
    later (so it is between ``window_chars`` and ``window_chars`` + one word + 1 characters long); its
    start is drawn uniformly among the words that leave room for a full window and whose window holds
    at least ``blanks`` blankable words. A text no longer than ``window_chars`` is one window. Then
    ``blanks`` of its blankable words are drawn. Everything random comes from ``rng``, so a seed gives
    the same question.

    None when no window has ``blanks`` blankable words, in particular when the whole memory has fewer
    (empty, "No previous memory", only punctuation or emoji): the trainer then skips T_augQ for that
    rollout (see ``memocr.train.advantages`` for how its advantage is handled).
    """
    if window_chars < 1 or blanks < 1:
        raise InputError(f"window_chars and blanks must be at least 1, got {window_chars} and {blanks}")
    text = memory_text(memory_markdown)
    spans = [match.span() for match in _WORD.finditer(text)]
    ok = [is_blankable(text[start:end]) for start, end in spans]
    before = [0, *accumulate(ok)]  # before[k] = blankable words among the first k
    ends = [end for _, end in spans]
    windows = []
    for i, (start, _) in enumerate(spans):
        if i and start > len(text) - window_chars:
            break
        j = min(bisect_left(ends, start + window_chars), len(spans) - 1)
        if before[j + 1] - before[i] >= blanks:
            windows.append((i, j))
    if not windows:
        return None
    first, last = rng.choice(windows)
    chosen = sorted(rng.sample([k for k in range(first, last + 1) if ok[k]], blanks))
    words = [text[start:end] for start, end in spans[first : last + 1]]
    gaps = {k - first for k in chosen}
    passage = [BLANK if n in gaps else word for n, word in enumerate(words)]
    return Cloze(
        passage=" ".join(passage),
        words=tuple(words[k - first] for k in chosen),
        window=" ".join(words),
    )
