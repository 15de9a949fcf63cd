"""The rule reward of MemOCR's training, reproduced exactly: exact match of the last ``\\boxed{}``.

This is NOT the evaluation's metric. The paper reports sub-EM (gold inside prediction or the other way
round, :func:`memocr.metrics.sub_exact_match`), under which ``\\boxed{a}`` scores 1 for every gold
(the article "a" normalises to an empty string, which every gold contains) and ``\\boxed{k}`` scores 1
for "Kelvaford". A reward like that would teach the policy to answer with one letter. The released
training reward (the "hotpotqa" rule score of its vendored veRL) compares whole strings instead:

1. only the last 300 characters of the response are read, lowercased;
2. the answer is the last ``\\boxed{...}`` there, braces balanced. If the text contains ``\\boxed``
   followed by a space anywhere, the answer is instead everything after the last ``"\\boxed "`` up to
   the next ``$``. A box that is not closed, or that is not ``\\boxed{`` (``\\fbox{}``, ``\\boxed\\text``),
   gives no answer and reward 0;
3. the answer and each lowercased gold alias are normalised alike (the MATH-benchmark ``strip_string``
   rule the released code uses, see :func:`normalize`) and compared for equality; reward 1.0 if any
   alias is equal, else 0.0.

What the normalisation does *not* do matters as much: ``\\text{}``, ``\\mathrm{}`` and braces stay, so
``\\boxed{\\text{Paris}}`` earns 0 against "Paris" (the released policy learned to box bare words);
punctuation, articles, tabs and non-ASCII spaces stay, so "Paris." and "the Louvre" do not match "paris"
and "louvre".
"""

from __future__ import annotations

from collections.abc import Sequence

from memocr.errors import InputError
from memocr.metrics import extract_answer, f1, paper_boxed

READ_LAST_CHARS = 300

# (old, new) in the order the released rule applies them; each is a plain substring replacement.
_NORMALISATION: tuple[tuple[str, str], ...] = (
    ("\n", ""),  # line breaks
    ("\\!", ""),  # LaTeX negative thin space
    ("\\\\", "\\"),  # a doubled backslash becomes one
    ("tfrac", "frac"),
    ("dfrac", "frac"),
    ("\\left", ""),
    ("\\right", ""),
    ("^{\\circ}", ""),  # degree signs
    ("^\\circ", ""),
    ("\\$", ""),  # escaped dollar
    ("\\%", ""),  # escaped percent
    (" .", " 0."),  # " .5" reads as " 0.5"
    ("{.", "{0."),
    (" ", ""),  # ASCII spaces, last
)


def normalize(text: str) -> str:
    """The released rule's normalisation: the substring replacements of ``_NORMALISATION`` in order.

    Lowercasing is not part of it (the reward lowercases before). The replacements are literal, so they
    also act inside words: "\\leftarrow" loses "\\left" and "dfrac" anywhere becomes "frac", exactly as in
    the released code.
    """
    for old, new in _NORMALISATION:
        text = text.replace(old, new)
    return text


def qa_reward(response: str, golds: Sequence[str]) -> float:
    """1.0 when the last box of the response's last 300 characters equals a gold alias, else 0.0.

    Case and spaces do not matter, everything else does (see the module docstring); there is no partial
    credit and no containment: ``\\boxed{a}`` against "Kelvaford" is 0.
    """
    if isinstance(golds, str):
        raise TypeError("golds is a list of aliases, not a single string")
    if not golds:
        raise InputError("at least one gold answer is needed to compute a reward")
    answer = paper_boxed(response[-READ_LAST_CHARS:].lower())
    if answer is None:
        return 0.0
    answer = normalize(answer)
    return float(any(answer == normalize(gold.lower()) for gold in golds))


def cloze_reward(response: str, words: Sequence[str]) -> float:
    """The T_augQ reward: :func:`qa_reward` against the one gold ``"w1, w2, w3"``.

    All words must be right and in order; since spaces are removed, ``\\boxed{Red,Blue}`` matches
    ``["red", "blue"]``, but a semicolon or a trailing full stop does not.
    """
    if isinstance(words, str):
        raise TypeError("words is a list of the blanked words, not a single string")
    if not words:
        raise InputError("a cloze reward needs the blanked words")
    return qa_reward(response, [", ".join(words)])


def f1_reward(response: str, golds: Sequence[str]) -> float:
    """Token F1 between the answer a response states and the best gold alias, in [0, 1].

    The answer is what memocr's lenient scoring reads (:func:`memocr.metrics.extract_answer`, rule
    ``"lenient"``): the last ``\\boxed{}`` (LaTeX text wrappers removed), else the rest of the line after
    the last "the answer is", else the whole response. F1 is taken after SQuAD normalisation (case,
    punctuation, articles). Partial credit, and precision counts: "Kelvaford" scores 1, "He was born
    in Kelvaford" 0.33, a bare "k" 0. Not the paper's reward: for models too small to write
    ``\\boxed{}`` at all, whose released-rule reward is 0 on every sample and so gives GRPO nothing to
    compare.
    """
    if isinstance(golds, str):
        raise TypeError("golds is a list of aliases, not a single string")
    if not golds:
        raise InputError("at least one gold answer is needed to compute a reward")
    return f1(extract_answer(response, "lenient", "boxed") or response, golds, "lenient")


def cloze_f1_reward(response: str, words: Sequence[str]) -> float:
    """The T_augQ reward under ``reward: f1``: :func:`f1_reward` against the one gold ``"w1, w2, w3"``.

    Each blanked word stated earns a share (punctuation goes with the normalisation, so the commas do
    not count), and so does a reply that copies more than the three words, less. Under the released
    rule (:func:`cloze_reward`) a model that never writes ``\\boxed{}`` earns 0 on every cloze, so
    T_augQ would have nothing to compare and its ablation would equal T_std alone.
    """
    if isinstance(words, str):
        raise TypeError("words is a list of the blanked words, not a single string")
    if not words:
        raise InputError("a cloze reward needs the blanked words")
    return f1_reward(response, [", ".join(words)])


ANSWER_REWARDS = {"boxed": qa_reward, "f1": f1_reward}
"""The answer rewards ``TrainConfig.reward`` names."""
CLOZE_REWARDS = {"boxed": cloze_reward, "f1": cloze_f1_reward}
"""The cloze (T_augQ) reward that goes with each answer reward."""
