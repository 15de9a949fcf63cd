"""Answer scoring as in the MemOCR/MemAgent evaluation: SQuAD-style EM, token F1 and sub-EM.

A model's reply is free text; :func:`extract_answer` pulls out the answer it committed to and
:func:`score` compares it with every gold alias after :func:`normalize_answer`, keeping the best score.
The paper reports "accuracy", which is sub-EM: the normalised gold appears inside the normalised
prediction or the other way round, so "Kestrel Ford, a mountain village" still counts for "Kestrel Ford".

Scoring is a named rule (see ``docs/metrics.md`` for every difference, with examples):

* ``"paper"`` (default) scores a reply exactly as the released evaluation (MemOCR's
  ``taskutils/memory_eval/test_qa.py`` with ``utils/__init__.py``, the same as MemAgent's) does: the
  last ``\\boxed{}`` taken verbatim (``\\boxed{\\text{1794}}`` gives ``\\text{1794}``), an unclosed box
  gives nothing, ASCII punctuation only, each record's F1 rounded to two decimals, and only an empty
  prediction scores 0 (a prediction that *normalises* to nothing is still scored, and sub-EM gives it 1).
  Use it for any number set beside the paper's tables.
* ``"lenient"`` repairs what the released scorer gets wrong: LaTeX text wrappers come off, an unclosed
  box or ``\\fbox`` still counts, Unicode punctuation and compatibility forms are normalised, and a
  prediction or gold alias that normalises to nothing never matches.

Both keep the HotpotQA rule that F1 is 0 when a yes/no/noanswer prediction or gold differs from the
other side. The training rewards (whole-answer exact match) are in :mod:`memocr.train.rewards`.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memocr.errors import InputError

SCORING_RULES = ("paper", "lenient")
"""Names accepted by ``scoring=``; ``"paper"`` is the default everywhere."""

ANSWER_FORMATS = ("boxed", "answer_is")
"""How a reply states its answer: in ``\\boxed{}`` (MemOCR and the boxed baselines) or after
"the answer is" (the released text baselines). The paper rule reads only the named format."""

_BOX_OPEN = "\\boxed{"
_THINK_END = "</think>"
_ANSWER_IS = "the answer is"
# Chat-template tokens the released text extraction removes from the answer (DeepSeek-R1 distills).
_SPECIAL_TOKENS = ("<\uff5cAssistant\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>")
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_YES_NO = ("yes", "no", "noanswer")

# Lenient rule only.
_LENIENT_BOX = re.compile(r"\\(?:boxed|fbox)\b")
_LENIENT_ANSWER_IS = re.compile(r"the answer is", re.IGNORECASE)
# LaTeX text wrappers a model puts inside a box; the words inside are the answer.
_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|textrm|textsf|texttt|emph|mbox|mathrm|mathbf|mathit|mathsf|operatorname)"
    r"\{([^{}]*)\}"
)


def check_scoring(scoring: str) -> str:
    """``scoring`` if it names a rule; otherwise an :class:`InputError` listing the rules."""
    if scoring not in SCORING_RULES:
        raise InputError(f"unknown scoring rule {scoring!r}; choose one of: {', '.join(SCORING_RULES)}")
    return scoring


def check_answer_format(answer_format: str) -> str:
    """``answer_format`` if it names a format; otherwise an :class:`InputError` listing the formats."""
    if answer_format not in ANSWER_FORMATS:
        raise InputError(
            f"unknown answer format {answer_format!r}; choose one of: {', '.join(ANSWER_FORMATS)}"
        )
    return answer_format


# --- extraction ---------------------------------------------------------------------------------


def _final_part(text: str) -> str:
    """The reply stripped, and past a reasoning block: the text after the last ``</think>``.

    When nothing follows ``</think>`` the whole reply is searched, as the released pipeline does.
    """
    text = text.strip()
    if _THINK_END in text:
        after = text.rsplit(_THINK_END, 1)[1].strip()
        if after:
            return after
    return text


def paper_boxed(text: str) -> str | None:
    """The released box extraction, same behaviour on every input.

    Any ``"\\boxed "`` (with a space) anywhere wins: the answer is what follows its last occurrence up to
    the next ``$``. Otherwise the last ``\\boxed`` is found and braces are counted from there to the one
    that closes the first ``{``; an unclosed box gives None. Where the released code fails an assertion
    and stops the run (``\\fbox{x}`` alone, ``\\boxed\\text{x}``), this gives None.
    """
    if "\\boxed " in text:
        return text.rsplit("\\boxed ", 1)[1].split("$", 1)[0]
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                span = text[start : i + 1]
                return span[len(_BOX_OPEN) : -1] if span.startswith(_BOX_OPEN) else None
    return None


def _paper_answer_is(text: str) -> str | None:
    """The released "the answer is" extraction: lower case only, everything after its last occurrence."""
    text = text.replace("*", "")
    if _ANSWER_IS not in text:
        return None
    answer = text.rsplit(_ANSWER_IS, 1)[1].strip()
    for token in _SPECIAL_TOKENS:
        answer = answer.replace(token, "")
    return answer.strip().strip(".").strip()


def _last_boxed(text: str) -> str | None:
    """Raw content of the last ``\\boxed{...}``, braces balanced; an unclosed box yields what follows it."""
    start = text.rfind(_BOX_OPEN)
    if start < 0:
        return None
    body = start + len(_BOX_OPEN)
    depth = 1
    for i in range(body, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[body:i]
    return text[body:]


def _unwrap_text_commands(s: str) -> str:
    """Replace ``\\text{x}`` and kin by ``x``, innermost first, so nested wrappers all come off."""
    while True:
        unwrapped = _TEXT_WRAPPER.sub(r"\1", s)
        if unwrapped == s:
            return s
        s = unwrapped


def _lenient_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed`` or ``\\fbox`` with LaTeX text wrappers removed, or None.

    ``\\boxed {x}`` counts like ``\\boxed{x}``; an unclosed box gives what follows it; ``\\boxed x`` with
    no brace gives the rest of the line up to a ``$``.
    """
    for match in reversed(list(_LENIENT_BOX.finditer(text))):
        rest = text[match.end() :]
        stripped = rest.lstrip()
        if stripped.startswith("{"):
            content = _last_boxed(_BOX_OPEN + stripped[1:])
        elif rest[:1].isspace() and stripped and not stripped.startswith("\\"):
            content = stripped.split("\n", 1)[0].split("$", 1)[0]
        else:
            continue
        return _unwrap_text_commands(content or "").strip()
    return None


def _lenient_answer_is(text: str) -> str | None:
    """The rest of the line after the last "the answer is" (any case), minus a colon and a full stop.

    A box in that text is read as a box: "the answer is \\boxed{x}" gives ``x``.
    """
    text = text.replace("*", "")
    matches = list(_LENIENT_ANSWER_IS.finditer(text))
    if not matches:
        return None
    answer = text[matches[-1].end() :].split("\n", 1)[0]
    for token in _SPECIAL_TOKENS:
        answer = answer.replace(token, "")
    answer = answer.strip().removeprefix(":").strip().rstrip(".").rstrip()
    boxed = _lenient_boxed(answer)
    return boxed if boxed is not None else answer or None


def extract_answer(text: str, scoring: str = "paper", answer_format: str = "boxed") -> str | None:
    """The answer a reply commits to, or None when it commits to none.

    Only the text after the last ``</think>`` is searched when there is any. Under ``"paper"`` the
    answer is read in ``answer_format`` only, verbatim; an empty string means the reply committed to an
    empty answer. Under ``"lenient"`` the named format is tried first and the other one after it, and a
    box's LaTeX text wrappers are removed.
    """
    check_scoring(scoring)
    check_answer_format(answer_format)
    final = _final_part(text)
    if scoring == "paper":
        return (paper_boxed if answer_format == "boxed" else _paper_answer_is)(final)
    readers = (_lenient_boxed, _lenient_answer_is)
    for read in readers if answer_format == "boxed" else reversed(readers):
        answer = read(final)
        if answer is not None:
            return answer
    return None


# --- normalisation and pair scores ----------------------------------------------------------------


def normalize_answer(s: str, scoring: str = "paper") -> str:
    """Lowercase, drop punctuation and the articles a/an/the, collapse whitespace (the SQuAD rule).

    Under ``"paper"`` punctuation is Python's ``string.punctuation`` (ASCII, symbols such as ``$`` and
    ``+`` included), so curly quotes and dashes stay. Under ``"lenient"`` the text is first put in NFKC
    form (composed accents, ASCII digits for full-width ones) and any Unicode punctuation goes as well.
    Letters with accents are kept by both.
    """
    check_scoring(scoring)
    if scoring == "lenient":
        s = unicodedata.normalize("NFKC", s)
    lowered = s.lower()
    if scoring == "paper":
        no_punct = "".join(ch for ch in lowered if ch not in _ASCII_PUNCTUATION)
    else:
        no_punct = "".join(
            ch
            for ch in lowered
            if ch not in _ASCII_PUNCTUATION and not unicodedata.category(ch).startswith("P")
        )
    no_articles = _ARTICLES.sub(" ", no_punct)
    return " ".join(no_articles.split())


def _em(pred: str, gold: str) -> float:
    return float(pred == gold)


def _f1(pred: str, gold: str) -> float:
    if (pred in _YES_NO or gold in _YES_NO) and pred != gold:
        return 0.0
    pred_tokens, gold_tokens = pred.split(), gold.split()
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _sub_em(pred: str, gold: str) -> float:
    return float(gold in pred or pred in gold)


def _best(
    pred: str | None, golds: Sequence[str], pair_score: Callable[[str, str], float], scoring: str
) -> float:
    """Best score of ``pred`` over the gold aliases, on normalised text.

    Paper rule: a missing or empty prediction scores 0 (the pipeline never scores it); anything else is
    scored as is, even when it normalises to nothing. Lenient rule: a prediction or alias that normalises
    to nothing scores 0, since an empty string is contained in every string and would match anything.
    """
    check_scoring(scoring)
    if isinstance(golds, str):
        raise TypeError("golds is a list of aliases, not a single string")
    if not golds:
        raise InputError("at least one gold answer is needed to score a prediction")
    if not pred:
        return 0.0
    norm_pred = normalize_answer(pred, scoring)
    norm_golds = [normalize_answer(gold, scoring) for gold in golds]
    if scoring == "paper":
        return max(pair_score(norm_pred, norm_gold) for norm_gold in norm_golds)
    if not norm_pred:
        return 0.0
    return max((pair_score(norm_pred, norm_gold) for norm_gold in norm_golds if norm_gold), default=0.0)


def mentions_answer(text: str, golds: Sequence[str]) -> bool:
    """Whether some gold alias occurs in ``text`` as whole words, both normalised (paper rule)."""
    padded = f" {normalize_answer(text)} "
    return any(f" {normalize_answer(gold)} " in padded for gold in golds if normalize_answer(gold))


def exact_match(pred: str | None, golds: Sequence[str], scoring: str = "paper") -> float:
    """1.0 when the normalised prediction equals some normalised gold alias, else 0.0."""
    return _best(pred, golds, _em, scoring)


def f1(pred: str | None, golds: Sequence[str], scoring: str = "paper") -> float:
    """Token-level F1 between normalised prediction and gold, the best over the aliases.

    The paper rule rounds each alias's F1 to two decimals before taking the best, as the released
    pipeline stores it per record (Python's ``round``: 0.125 gives 0.12).
    """
    if scoring == "paper":
        return _best(pred, golds, lambda p, g: round(_f1(p, g), 2), scoring)
    return _best(pred, golds, _f1, scoring)


def sub_exact_match(pred: str | None, golds: Sequence[str], scoring: str = "paper") -> float:
    """1.0 when a normalised gold is a substring of the normalised prediction or vice versa.

    Containment is on characters, not tokens, exactly as in the paper's evaluation.
    """
    return _best(pred, golds, _sub_em, scoring)


@dataclass(frozen=True)
class Scores:
    """One reply's scores; ``sub_em`` is what the paper calls accuracy."""

    answer: str | None
    em: float
    f1: float
    sub_em: float


def score(
    prediction_text: str, golds: Sequence[str], scoring: str = "paper", answer_format: str = "boxed"
) -> Scores:
    """Extract the answer from a model reply and score it against the gold aliases under one rule."""
    answer = extract_answer(prediction_text, scoring, answer_format)
    return Scores(
        answer=answer,
        em=exact_match(answer, golds, scoring),
        f1=f1(answer, golds, scoring),
        sub_em=sub_exact_match(answer, golds, scoring),
    )
