"""Answer scoring as in the MemAgent/MemOCR evaluation: SQuAD-style EM, token F1 and sub-EM.

A model's reply is free text; :func:`extract_answer` pulls out the answer it committed to (the last
``\\boxed{...}``, else what follows the last "the answer is"). Answers are compared after
:func:`normalize_answer`, against every gold alias, keeping the best score. The paper reports
"accuracy", which is sub-EM: the normalised gold appears inside the normalised prediction or the other
way round, so "Kestrel Ford, a mountain village" still counts for "Kestrel Ford".

:func:`cloze_match` is separate: it reproduces the stricter reward of the training cloze task.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memocr.errors import InputError

_BOX_OPEN = "\\boxed{"
# LaTeX text wrappers a model puts inside a box; the words inside are the answer.
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf)\{([^{}]*)\}")
_ANSWER_IS = re.compile(r"the answer is", re.IGNORECASE)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


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


def extract_answer(text: str) -> str | None:
    """The answer a reply commits to, or None when it commits to none.

    The last box wins because models often box intermediate results before the final one. Without a
    box, the rest of the line after the last "the answer is" is taken, minus a leading colon and a
    trailing full stop.
    """
    boxed = _last_boxed(text)
    if boxed is not None:
        return _unwrap_text_commands(boxed).strip()
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end() :].split("\n", 1)[0]
    answer = rest.strip().removeprefix(":").strip().rstrip(".").rstrip()
    return answer or None


def normalize_answer(s: str) -> str:
    """Lowercase, drop punctuation and the articles a/an/the, collapse whitespace (the SQuAD rule).

    Punctuation is any Unicode punctuation character, so curly quotes and dashes go too; letters with
    accents are kept.
    """
    lowered = s.lower()
    no_punct = "".join(ch for ch in lowered if not unicodedata.category(ch).startswith("P"))
    no_articles = _ARTICLES.sub(" ", no_punct)
    return " ".join(no_articles.split())


def _best(pred: str | None, golds: Sequence[str], pair_score: Callable[[str, str], float]) -> float:
    """Best score of ``pred`` over the gold aliases, on normalised text.

    A prediction or alias that normalises to nothing scores 0: an empty string is contained in every
    string and would otherwise match anything.
    """
    if isinstance(golds, str):
        raise TypeError("golds is a list of aliases, not a single string")
    if not golds:
        raise InputError("at least one gold answer is needed to score a prediction")
    if pred is None:
        return 0.0
    norm_pred = normalize_answer(pred)
    if not norm_pred:
        return 0.0
    return max(
        (pair_score(norm_pred, norm_gold) for norm_gold in map(normalize_answer, golds) if norm_gold),
        default=0.0,
    )


def _em(pred: str, gold: str) -> float:
    return float(pred == gold)


def _f1(pred: str, gold: str) -> float:
    pred_tokens, gold_tokens = pred.split(), gold.split()
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _sub_em(pred: str, gold: str) -> float:
    return float(gold in pred or pred in gold)


def exact_match(pred: str | None, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals some normalised gold alias, else 0.0."""
    return _best(pred, golds, _em)


def f1(pred: str | None, golds: Sequence[str]) -> float:
    """Token-level F1 between normalised prediction and gold, the best over the aliases."""
    return _best(pred, golds, _f1)


def sub_exact_match(pred: str | None, golds: Sequence[str]) -> float:
    """1.0 when a normalised gold is a substring of the normalised prediction or vice versa.

    Containment is on characters, not tokens, exactly as in the paper's evaluation.
    """
    return _best(pred, golds, _sub_em)


@dataclass(frozen=True)
class Scores:
    """One reply's scores; ``sub_em`` is what the paper calls accuracy."""

    answer: str | None
    em: float
    f1: float
    sub_em: float


def score(prediction_text: str, golds: Sequence[str]) -> Scores:
    """Extract the answer from a model reply and score it against the gold aliases."""
    answer = extract_answer(prediction_text)
    return Scores(
        answer=answer,
        em=exact_match(answer, golds),
        f1=f1(answer, golds),
        sub_em=sub_exact_match(answer, golds),
    )


def cloze_match(pred: str | None, expected_words: Sequence[str]) -> float:
    """Reward of the training cloze task: 1.0 when the last box holds exactly the expected words.

    Like the released reward, only the last ``\\boxed{}`` counts, as written (no ``\\text`` unwrapping),
    and the comparison ignores case, spaces and newlines: ``\\boxed{Red,Blue}`` matches
    ``["red", "blue"]``.
    """
    if pred is None:
        return 0.0
    boxed = _last_boxed(pred)
    if boxed is None:
        return 0.0
    expected = ", ".join(expected_words)
    return float(_squeeze(boxed) == _squeeze(expected))


def _squeeze(s: str) -> str:
    return s.lower().replace(" ", "").replace("\n", "")
