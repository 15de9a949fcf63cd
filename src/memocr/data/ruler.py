"""RULER-HotpotQA: the same HotpotQA dev questions at 50 … 25,600 documents (≈7K to 3.5M tokens).

MemAgent's ``different_docs_eval.py`` regenerates its 128 dev questions with N documents drawn from
the paragraph pool of the whole HotpotQA dev split; the construction is that of
`memocr.data.contexts` (own paragraphs, random padding, ``Random(4)`` shuffle), and the question is
kept as written (no ``"?"`` appended, unlike the FlashRAG sets). The questions are the ``index``
values of an existing eval file (``--questions``: MemAgent's ``eval_200.json``), else 128 drawn with
``random.Random(42)``.

Contexts of thousands of documents are millions of characters, so records are streamed: each is
written document by document (`memocr.data.io.RecordWriter.write_pieces`) and nothing but the pool and
one record's document list (references into the pool) is held in memory. Released files past 10,000
documents store document indices instead of text; these store the text.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from memocr.data import contexts
from memocr.data.flashrag import QUESTION_SEED, Item, Prepared, make_record, prepare_multi_hop, sample
from memocr.data.io import RecordWriter, iter_records
from memocr.data.sources import SourceQuestion
from memocr.errors import InputError

DATASET = "ruler_hotpotqa"
LENGTHS = (50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600)


def prepare(questions: list[SourceQuestion]) -> Prepared:
    """The dev pool (every distinct paragraph) and the buildable questions."""
    if not questions:
        raise InputError("ruler-hotpotqa: the source holds no questions")
    if not any(q.paragraphs for q in questions):
        raise InputError("ruler-hotpotqa: the source rows carry no paragraphs; pass HotpotQA's dev set")
    return prepare_multi_hop(DATASET, questions)


def select(
    prepared: Prepared,
    n: int = 128,
    seed: int = QUESTION_SEED,
    indices_from: str | os.PathLike[str] | None = None,
) -> list[Item]:
    """The questions whose ``index`` appears in ``indices_from`` (an eval file), else ``n`` sampled."""
    if indices_from is None:
        return sample(prepared, n, seed)
    by_row = {item.source.row: item for item in prepared.items}
    chosen: list[Item] = []
    for record in iter_records(indices_from, DATASET):
        if record.index not in by_row:
            raise InputError(
                f"{indices_from}: question index {record.index} ({record.id}) is not a buildable question "
                f"of the source (it has {len(prepared.pool)} paragraphs, {len(prepared.items)} questions)"
            )
        chosen.append(by_row[record.index])
    return chosen


def write_length(
    prepared: Prepared,
    items: Iterable[Item],
    num_docs: int,
    path: str | os.PathLike[str],
    *,
    seed: int = QUESTION_SEED,
    shuffle_seed: int = contexts.SHUFFLE_SEED,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the records of ``items`` at ``num_docs`` documents to ``path``, one at a time (see the
    module docstring); returns how many. ``progress(documents)`` is called after each record."""
    with RecordWriter(Path(path)) as writer:
        for item in items:
            record, documents = make_record(
                prepared, item, num_docs, seed=seed, shuffle_seed=shuffle_seed, question_mark=False
            )
            writer.write_pieces(record, contexts.context_pieces(documents))
            if progress is not None:
                progress(len(documents))
        return writer.count
