"""Long contexts as the released scripts build them: own paragraphs, padding from a pool, a fixed shuffle.

For one question and a length of N documents: its own paragraphs (every paragraph that came with it,
gold and distractor), then paragraphs drawn at random from the pool of the whole split up to N, the
list shuffled with ``random.Random(4)``, and each document written ``Document i:\\n<title>\\n<text>``,
joined by blank lines. As in the released code a fresh ``Random(4)`` shuffles every question's list,
so all questions of one length share one permutation.

Where this differs from the released scripts (which draw everything from one global RNG across
threads, so their files cannot be regenerated): the padding of each question is drawn from its own
RNG, seeded by (seed, question index, N), so a record does not depend on which other questions were
built; and a question never loses a supporting paragraph when N is smaller than its own paragraphs.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

DOCUMENT_TEMPLATE = "Document {i}:\n{document}"
SHUFFLE_SEED = 4


def pick_documents(
    own: Sequence[int],
    keep: Sequence[int],
    pool_size: int,
    num_docs: int,
    rng: random.Random,
    exclude: frozenset[int] = frozenset(),
) -> list[int]:
    """Pool indices of one context: ``own`` (order kept), then random others up to ``num_docs``.

    ``keep`` (the supporting paragraphs) always stays when ``num_docs`` is smaller than ``own``;
    ``exclude`` are never drawn as padding (e.g. other passages that hold the answer). When the pool
    has too few documents, every eligible one is used and the context is shorter than asked.
    """
    own = list(dict.fromkeys(own))
    if num_docs < len(own):
        kept = set(keep)
        room = max(0, num_docs - len(kept))
        extra = [i for i in own if i not in kept][:room]
        chosen = set(extra) | kept
        return [i for i in own if i in chosen]
    taken = set(own) | {i for i in exclude if 0 <= i < pool_size}
    need = num_docs - len(own)
    if need >= pool_size - len(taken):
        return own + [i for i in range(pool_size) if i not in taken]
    # A sample of need + len(taken) distinct indices holds at least `need` untaken ones: O(N), never
    # a list of the whole pool.
    drawn = rng.sample(range(pool_size), need + len(taken))
    padding = [i for i in drawn if i not in taken][:need]
    return own + padding


def shuffle_order(count: int, seed: int = SHUFFLE_SEED) -> list[int]:
    """The released shuffle: ``perm`` with document ``k`` of the result = input ``perm[k]``."""
    perm = list(range(count))
    random.Random(seed).shuffle(perm)
    return perm


def context_pieces(documents: Iterator[str] | Sequence[str]) -> Iterator[str]:
    """The context one document at a time (joined, they are the whole context)."""
    for i, document in enumerate(documents):
        yield ("\n\n" if i else "") + DOCUMENT_TEMPLATE.format(i=i + 1, document=document)


def format_context(documents: Sequence[str]) -> str:
    return "".join(context_pieces(documents))


def question_rng(*parts: object) -> random.Random:
    """A `random.Random` seeded by ``parts`` (stable across runs and Python versions)."""
    return random.Random("/".join(str(part) for part in parts))


def with_question_mark(question: str) -> str:
    question = question.strip()
    return question if question.endswith("?") else question + "?"
