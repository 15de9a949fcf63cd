"""The paper's four evaluation sets (HotpotQA, 2WikiMultihopQA, Natural Questions, TriviaQA) built
from FlashRAG files, padded to N documents (default 50 / 200 / 800 ≈ 10K / 30K / 100K tokens).

Multi-hop sets (HotpotQA, 2Wiki: the rows carry their paragraphs), as the released
``process_test.py``: the pool is every distinct ``title\\ntext`` paragraph of the split; a question
whose supporting titles are not among its paragraphs is dropped; 128 questions are sampled with
``random.Random(42)``; each context is built by `memocr.data.contexts`; ``"?"`` is appended to a
question that lacks it; ``supporting_facts`` are the supporting sentences.

Single-hop sets (NQ, TriviaQA: FlashRAG's rows carry only question and answers, and the paper's
construction is not released): the pool is a passage corpus the user gives (``{"title", "text"}`` or
FlashRAG's ``{"contents"}`` rows, e.g. the first passages of ``wiki18_100w.jsonl`` or a retriever's
output). A passage *holds an answer* when one of the question's gold answers occurs in it as whole
words, case and punctuation aside. A question's own paragraph is one answer-holding passage chosen
at random; the other answer-holding passages are never used as padding, so the context holds the
answer once; questions with no answer-holding passage are dropped. ``supporting_facts`` are the
sentences of the chosen passage that hold the answer. Rows that do carry ``metadata.context`` are
built like the multi-hop sets instead.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from memocr.data import contexts
from memocr.data.record import QARecord
from memocr.data.sources import SourceQuestion, iter_passages, paragraph_text
from memocr.errors import InputError

MULTI_HOP = ("hotpotqa", "2wikimultihopqa")
SINGLE_HOP = ("nq", "triviaqa")
DATASETS = MULTI_HOP + SINGLE_HOP
DEFAULT_LENGTHS = (50, 200, 800)
DEFAULT_QUESTIONS = 128
QUESTION_SEED = 42
DEFAULT_CORPUS_LIMIT = 200_000

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Item:
    """A question ready to be padded: its paragraphs as pool indices and its supporting sentences."""

    source: SourceQuestion
    own: list[int]
    keep: list[int]
    supporting_facts: list[str]
    exclude: frozenset[int] = frozenset()


@dataclass
class Prepared:
    dataset: str
    pool: list[str]
    items: list[Item] = field(default_factory=list)
    dropped: int = 0  # source questions that cannot be built (see the module docstring)


def prepare(
    dataset: str,
    questions: list[SourceQuestion],
    corpus: str | Path | None = None,
    corpus_limit: int | None = DEFAULT_CORPUS_LIMIT,
    seed: int = QUESTION_SEED,
) -> Prepared:
    """The pool and the buildable questions of one split (see the module docstring)."""
    if not questions:
        raise InputError(f"{dataset}: the source holds no questions")
    if any(q.paragraphs for q in questions):
        return prepare_multi_hop(dataset, questions)
    if corpus is None:
        raise InputError(
            f"{dataset}: the source rows carry no paragraphs (FlashRAG's NQ and TriviaQA do not); pass a "
            "passage corpus with --corpus FILE.jsonl ({'title', 'text'} or FlashRAG {'contents'} rows)"
        )
    passages = sorted({paragraph_text(t, text) for t, text in iter_passages(corpus, corpus_limit)})
    return prepare_single_hop(dataset, questions, passages, seed=seed)


def prepare_multi_hop(dataset: str, questions: list[SourceQuestion]) -> Prepared:
    pool = sorted({text for q in questions for text in q.paragraph_texts()})
    position = {text: i for i, text in enumerate(pool)}
    prepared = Prepared(dataset, pool)
    for question in questions:
        if not question.paragraphs or not question.supporting_titles_present():
            prepared.dropped += 1
            continue
        own = [position[text] for text in question.paragraph_texts()]
        gold_titles = {title for title, _ in question.supporting}
        keep = [own[k] for k, (title, _) in enumerate(question.paragraphs) if title in gold_titles]
        prepared.items.append(Item(question, own, keep, question.supporting_sentences()))
    return prepared


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def holds_answer(text: str, answers: Iterable[str]) -> bool:
    """Whether one of ``answers`` occurs in ``text`` as whole words (case and punctuation aside)."""
    padded = f" {' '.join(_words(text))} "
    return any(words and f" {' '.join(words)} " in padded for words in map(_words, answers))


def prepare_single_hop(
    dataset: str, questions: list[SourceQuestion], passages: list[str], seed: int = QUESTION_SEED
) -> Prepared:
    """Single-hop construction over a passage pool (see the module docstring)."""
    if not passages:
        raise InputError(f"{dataset}: the passage corpus is empty")
    answer_words = [[_words(a) for a in q.answers] for q in questions]
    wanted = {w for per_question in answer_words for words in per_question for w in words}
    postings: dict[str, list[int]] = defaultdict(list)  # word -> passages, only for answer words
    for i, passage in enumerate(passages):
        for word in wanted.intersection(_words(passage)):
            postings[word].append(i)
    prepared = Prepared(dataset, passages)
    for question, per_question in zip(questions, answer_words, strict=True):
        candidates: set[int] = set()
        for words in per_question:
            if words:
                candidates |= set.intersection(*(set(postings.get(w, ())) for w in words))
        matches = sorted(i for i in candidates if holds_answer(passages[i], question.answers))
        if not matches:
            prepared.dropped += 1
            continue
        gold = contexts.question_rng(seed, "gold", question.row).choice(matches)
        _, _, text = passages[gold].partition("\n")
        facts = [s.strip() for s in _SENTENCE_END.split(text) if holds_answer(s, question.answers)]
        exclude = frozenset(matches) - {gold}
        prepared.items.append(Item(question, [gold], [gold], facts, exclude))
    return prepared


def sample(prepared: Prepared, n: int = DEFAULT_QUESTIONS, seed: int = QUESTION_SEED) -> list[Item]:
    """``n`` questions drawn with ``random.Random(seed)`` (all of them when there are fewer). With
    nothing dropped these are the questions the released script drew for its first length."""
    if n >= len(prepared.items):
        return list(prepared.items)
    return [prepared.items[k] for k in random.Random(seed).sample(range(len(prepared.items)), n)]


def make_record(
    prepared: Prepared,
    item: Item,
    num_docs: int,
    *,
    seed: int = QUESTION_SEED,
    shuffle_seed: int = contexts.SHUFFLE_SEED,
    dataset: str | None = None,
    question_mark: bool = True,
) -> tuple[QARecord, list[str]]:
    """The record of ``item`` at ``num_docs`` documents, with an empty context, and its documents in
    context order (``contexts.format_context`` joins them; they are the pool's own strings)."""
    rng = contexts.question_rng(seed, "pad", item.source.row, num_docs)
    chosen = contexts.pick_documents(item.own, item.keep, len(prepared.pool), num_docs, rng, item.exclude)
    perm = contexts.shuffle_order(len(chosen), shuffle_seed)
    documents = [prepared.pool[chosen[k]] for k in perm]
    keep = set(item.keep)
    evidence = [k for k, original in enumerate(perm) if chosen[original] in keep]
    name = dataset or prepared.dataset
    question = item.source.question
    record = QARecord(
        id=f"{name}-{num_docs}-{item.source.row}",
        dataset=name,
        input=contexts.with_question_mark(question) if question_mark else question,
        answers=list(item.source.answers),
        context="",
        num_docs=len(documents),
        index=item.source.row,
        supporting_facts=list(item.supporting_facts),
        extra={
            "source_id": item.source.id,
            "evidence_idx": evidence,
            "level": item.source.level,
            "type": item.source.type,
        },
    )
    return record, documents


def build(
    prepared: Prepared,
    items: list[Item],
    num_docs: int,
    *,
    seed: int = QUESTION_SEED,
    shuffle_seed: int = contexts.SHUFFLE_SEED,
) -> Iterator[QARecord]:
    """The records of ``items`` at ``num_docs`` documents, context included, one at a time."""
    for item in items:
        record, documents = make_record(prepared, item, num_docs, seed=seed, shuffle_seed=shuffle_seed)
        record.context = contexts.format_context(documents)
        yield record


def build_dataset(
    dataset: str,
    questions: list[SourceQuestion],
    lengths: Iterable[int] = DEFAULT_LENGTHS,
    n: int = DEFAULT_QUESTIONS,
    *,
    seed: int = QUESTION_SEED,
    corpus: str | Path | None = None,
) -> dict[int, list[QARecord]]:
    """Every length of one dataset in memory (convenient for tests and small sets)."""
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    prepared = prepare(dataset, questions, corpus, seed=seed)
    items = sample(prepared, n, seed)
    return {length: list(build(prepared, items, length, seed=seed)) for length in lengths}
