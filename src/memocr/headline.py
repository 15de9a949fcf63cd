"""The closing turn a model may ask for: its answer in a few words, put first in the memory's largest type.

After the last chunk, a model that suggests a headline prompt (`memocr.prompts.headline_key`) is asked
once more, with the problem and its final memory only, for the answer in a few words. The memory that
is rendered (or cut to the budget, in text mode) then starts with it: in Markdown a level-1 heading
`# Answer: ...`, with every other heading of the memory turned into a bold line, so the answer is the
largest text on the page and the last thing a shrinking image loses; in a text memory a first line
`Answer: ...`, which the first tokens of any budget keep. The turn is recorded as a drafting step
(`DraftStep.headline`).

Why: a small model (the embedded tier) never writes the answer in a heading while it drafts. It keeps
a heading with what it is looking for, so at 16 visual tokens the question survives and the answer
does not (docs/models.md has the variants measured).
"""

from __future__ import annotations

import re

from memocr.metrics import extract_answer

# An answer longer than this is cut at a word: a headline must fit a line of the page.
MAX_HEADLINE_CHARS = 80
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_MARKUP = re.compile(r"^ {0,3}(?:#{1,6}[ \t]+|[-*+][ \t]+)|\*\*|__", re.MULTILINE)
_LABEL = re.compile(r"^\s*(?:the\s+)?answer\s*(?:is)?\s*[:\-]?\s*", re.IGNORECASE)


def headline_answer(reply: str) -> str | None:
    """The answer in a headline reply: its ``\\boxed{}`` content, else its first non-empty line, without
    an ``Answer:`` label, on one line and at most `MAX_HEADLINE_CHARS` long; None if nothing is left."""
    answer = extract_answer(reply)
    if answer is None:
        answer = next((line for line in reply.splitlines() if line.strip()), "")
    answer = " ".join(_LABEL.sub("", answer).split()).strip(" .")
    if len(answer) > MAX_HEADLINE_CHARS:
        answer = answer[:MAX_HEADLINE_CHARS].rsplit(" ", 1)[0]
    return answer or None


def reading_view(memory: str) -> str:
    """`memory` as a reader of its picture gets it: the words without heading marks, list bullets and
    bold marks. The headline turn reads this view, so it answers from what the picture shows (on the 8
    tuning memories measured, the raw Markdown gave the same headlines)."""
    return _MARKUP.sub("", memory)


def with_headline(memory: str, answer: str, *, markdown: bool) -> str:
    """`memory` led by `answer`: a level-1 heading above the memory's headings made bold lines
    (Markdown), or a first line (text)."""
    if not markdown:
        return f"Answer: {answer}\n{memory}"
    bold = _HEADING.sub(lambda match: "**" + match.group(1).replace("**", "") + "**", memory)
    return f"# Answer: {answer}\n\n{bold}"
