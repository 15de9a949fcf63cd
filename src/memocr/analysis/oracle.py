"""The oracle experiment: the same evidence in a top heading or in body text, answered at each budget.

For every question one fixed memory body is built: filler sentences (other questions' supporting
facts, then neutral invented sentences; none contains this question's answer) in paragraphs. The
question's evidence (its supporting facts, which contain the answer) is then added either as a top
``#`` heading or as a plain paragraph at a fixed place in the body (the top, by default, so that the
two memories differ only by the heading marker). Evidence text, filler text and filler order are the
same for both placements; only the placement changes. Each memory is rendered once and answered at
every budget with `MemoryAgent.answer_from_memory`, and the reply is scored by `oracle_correct`
(the paper's sub-EM, with a fallback for replies that commit to no answer). The paper reports this
experiment as region-wise robustness (§5.7 of our method notes).

Records go to a JSON-lines file, one per question × placement × budget, appended and flushed as each
memory is answered, so a stopped run resumes where it stopped: a record is reused when its question,
placement, budget, model (spec, OCR reader's text model, answer prompt) and memory text (by hash)
are the same as the run's.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import random
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from memocr import store
from memocr.errors import InputError
from memocr.metrics import mentions_answer, normalize_answer, score

if TYPE_CHECKING:
    from memocr.agent import MemoryAgent

Placement = Literal["heading", "body"]
PLACEMENTS: tuple[Placement, ...] = ("heading", "body")
BodyPosition = Literal["top", "middle"]

# Invented, neutral sentences: used when the other questions cannot supply enough filler.
NEUTRAL_FILLER = (
    "The Orrin Valley railway closes its northern platform every winter for repairs.",
    "Weavers in the town of Calderbrook dye their wool with crushed walnut shells.",
    "The Pellmoor library keeps its oldest maps in a cellar that floods every spring.",
    "A footbridge of grey stone links the two halves of the Vessary market.",
    "The Tamsin Glass Works switched from coal to gas furnaces after a long strike.",
    "Fishing boats from Holloway Cove return before noon when the wind turns east.",
    "The Brannock choir rehearses on Thursday evenings in a converted grain store.",
    "Farmers near Eddleston plant barley on the upper terraces and beans below.",
    "The Quillan observatory opens its dome to visitors on the first night of each month.",
    "A narrow canal once carried slate from the Marrow quarries down to the coast.",
    "The Fennick bakery sells rye loaves shaped like the town's old coat of arms.",
    "Most houses in Ostervale have red tiled roofs and small walled gardens.",
    "The annual Lorne kite festival is cancelled whenever the harbour wall is under repair.",
    "Students at the Hesketh academy study surveying in their second year.",
    "The Dunmarrow lighthouse was automated and its keepers' cottages became a museum.",
    "A tram line along the Solway promenade runs only during the summer season.",
)


@dataclass
class OracleQuestion:
    """A question whose ``evidence`` (supporting facts, holding the answer) is placed by the oracle."""

    question_id: str
    question: str
    golds: list[str]
    evidence: list[str]


@dataclass
class OracleRecord:
    """One answer of the oracle: a question × placement × budget."""

    question_id: str
    placement: str
    budget: int
    question: str
    golds: list[str]
    model: str
    memory_sha: str
    memory: str
    # What answered, beyond the spec string (whose meaning can change, e.g. "embedded" naming a new
    # tier): the OCR reader's text model and the answer prompt the agent chose for the model.
    reader: str = ""
    answer_prompt: str = ""
    response: str = ""
    answer: str | None = None  # the answer the reply commits to (\\boxed{} or "the answer is"), if any
    correct: float | None = None  # the oracle's accuracy (see `oracle_correct`)
    sub_em: float | None = None  # the paper's sub-EM of ``answer`` (0 when the reply commits to none)
    em: float | None = None
    f1: float | None = None
    # True when a gold alias is in the normalised text the OCR reader read from the image (embedded
    # reader only; None for a VLM): separates "not legible" from "legible but answered wrongly".
    answer_legible: bool | None = None
    visual_tokens: int | None = None
    image_width: int | None = None
    image_height: int | None = None
    answer_seconds: float | None = None  # the whole answer turn (OCR included for the OCR reader)
    ocr_seconds: float | None = None
    ocr_text: str | None = None
    error: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        return (
            self.question_id,
            self.placement,
            str(self.budget),
            self.model,
            self.reader,
            self.answer_prompt,
            self.memory_sha,
        )


def oracle_questions(drafts: Iterable, limit: int | None = None) -> list[OracleQuestion]:
    """One oracle question per distinct question of a run's drafts (or dataset records) that has
    supporting facts, in first-seen order, at most ``limit`` (see `run_oracle`'s ``limit`` to keep
    the filler pool of a larger set).

    Accepts `DraftRecord`s (``question``, ``golds``) and `QARecord`s (``input``, ``answers``, ``id``).
    """
    seen: dict[str, OracleQuestion] = {}
    for record in drafts:
        question_id = getattr(record, "question_id", None) or record.id
        if question_id in seen or not record.supporting_facts:
            continue
        question = getattr(record, "question", None) or record.input
        golds = getattr(record, "golds", None) or record.answers
        seen[question_id] = OracleQuestion(
            question_id=question_id,
            question=question,
            golds=list(golds),
            evidence=_evidence(record.supporting_facts, golds),
        )
        if limit is not None and len(seen) >= limit:
            break
    return list(seen.values())


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def _evidence(facts: Sequence[str], golds: Sequence[str]) -> list[str]:
    """The evidence to place: each supporting fact, cut down to its sentences that name a gold
    answer when it has several (a SQuAD fact is a whole paragraph, which as a heading would be the
    size of the body). A fact of one sentence, or whose sentences name no gold answer, is kept whole:
    a multi-hop question's bridging fact names no answer and is still needed."""
    evidence = []
    for fact in filter(None, (fact.strip() for fact in facts)):
        naming = [sentence for sentence in _SENTENCE_END.split(fact) if mentions_answer(sentence, golds)]
        evidence.extend(naming or [fact])
    return evidence


def choose_filler(
    question: OracleQuestion, others: Sequence[OracleQuestion], count: int, seed: int = 0
) -> list[str]:
    """``count`` filler sentences for ``question``: other questions' supporting facts first (shuffled
    with a seed derived from ``seed`` and the question id), then `NEUTRAL_FILLER`. Sentences that
    mention one of the question's gold answers or repeat one of its evidence sentences are skipped."""
    rng = random.Random(f"{seed}:{question.question_id}")
    pool = [fact for other in others if other.question_id != question.question_id for fact in other.evidence]
    rng.shuffle(pool)
    own = {normalize_answer(sentence) for sentence in question.evidence}
    chosen: list[str] = []
    for sentence in [*pool, *NEUTRAL_FILLER]:
        if len(chosen) >= count:
            break
        normalized = normalize_answer(sentence)
        if normalized in own or mentions_answer(sentence, question.golds):
            continue
        if normalized in {normalize_answer(s) for s in chosen}:
            continue
        chosen.append(sentence)
    return chosen


def _paragraphs(sentences: Sequence[str], per_paragraph: int) -> list[str]:
    return [
        " ".join(sentences[start : start + per_paragraph])
        for start in range(0, len(sentences), per_paragraph)
    ]


def build_memory(
    evidence: Sequence[str],
    filler: Sequence[str],
    placement: Placement,
    *,
    body_position: BodyPosition = "top",
    sentences_per_paragraph: int = 3,
) -> str:
    """The oracle memory: ``filler`` in paragraphs, ``evidence`` joined into one line placed as a top
    ``#`` heading (``heading``) or as a paragraph of the body (``body``: first, or after half of the
    filler paragraphs for ``middle``)."""
    if placement not in PLACEMENTS:
        raise InputError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    line = " ".join(sentence.strip() for sentence in evidence if sentence.strip())
    if not line:
        raise InputError("the oracle needs evidence text to place")
    # A line that starts with a Markdown block marker would change meaning in the body; escape it.
    if line[0] in "#>-+*=" or line[0].isdigit():
        line = "\\" + line
    paragraphs = _paragraphs(filler, max(1, sentences_per_paragraph))
    if placement == "heading":
        blocks = [f"# {line}", *paragraphs]
    else:
        at = 0 if body_position == "top" else (len(paragraphs) + 1) // 2
        blocks = [*paragraphs[:at], line, *paragraphs[at:]]
    return "\n\n".join(blocks) + "\n"


@dataclass
class OracleSettings:
    budgets: list[int] = field(default_factory=lambda: [1024, 256, 64, 16])
    # 12 sentences ≈ 180 words: the median size of the paper's detailed region (≈180 tokens).
    filler_sentences: int = 12
    sentences_per_paragraph: int = 3
    body_position: BodyPosition = "top"
    seed: int = 0


def oracle_memories(
    questions: Sequence[OracleQuestion], settings: OracleSettings
) -> list[tuple[OracleQuestion, dict[str, str]]]:
    """Each question with its two memories (placement → Markdown), built from one filler choice."""
    built = []
    for question in questions:
        filler = choose_filler(question, questions, settings.filler_sentences, settings.seed)
        memories = {
            placement: build_memory(
                question.evidence,
                filler,
                placement,
                body_position=settings.body_position,
                sentences_per_paragraph=settings.sentences_per_paragraph,
            )
            for placement in PLACEMENTS
        }
        built.append((question, memories))
    return built


def memory_sha(memory: str) -> str:
    return hashlib.sha256(memory.encode("utf-8")).hexdigest()[:16]


def read_oracle(path: Path) -> list[OracleRecord]:
    """Records of an oracle file, the last of each key; a torn last line (killed writer) is skipped."""
    return store.read_latest(path, OracleRecord)


async def run_oracle(
    agent: MemoryAgent,
    questions: Sequence[OracleQuestion],
    settings: OracleSettings,
    path: Path,
    progress: Callable[[int], None] | None = None,
    limit: int | None = None,
) -> list[OracleRecord]:
    """Answer every question × placement × budget not already in ``path``; returns the run's records
    (reused and new). ``progress(n)`` is called with the number of answers each step finished.

    Filler is drawn from all ``questions``, but only the first ``limit`` are answered: a rerun with
    another ``limit`` builds the same memories and reuses the answers it already has.

    A memory whose answering fails gets records with ``error`` set (retried by the next run) and the
    run goes on; an error that is the user's to fix (bad budget, settings that do not fit) stops it.
    """
    from memocr.agent import Question, QuestionFailed

    text_model = getattr(agent.model, "text_model", None)  # the OCR reader's text model
    reader = text_model.name if text_model is not None else agent.model.name
    done = {record.key: record for record in read_oracle(path) if record.error is None}
    results: list[OracleRecord] = []
    for question, memories in oracle_memories(questions, settings)[:limit]:
        for placement in PLACEMENTS:
            memory = memories[placement]
            base = functools.partial(
                _blank_record,
                question,
                placement,
                model=agent.model.name,
                reader=reader,
                answer_prompt=agent.mode.answer_prompt.id,
                memory=memory,
            )

            missing = []
            for budget in settings.budgets:
                reused = done.get(base(budget).key)
                if reused is not None:
                    results.append(reused)
                else:
                    missing.append(budget)
            if not missing:
                if progress is not None:
                    progress(len(settings.budgets))
                continue
            asked = Question(
                document="",
                question=question.question,
                question_id=f"{question.question_id}-{placement}",
                golds=question.golds,
            )
            new: list[OracleRecord] = []
            try:
                trace = await agent.answer_from_memory(asked, memory, missing)
            except QuestionFailed as failed:
                if failed.exit_code == 2:  # the user's to fix (e.g. settings that do not fit): stop
                    raise
                new = [dataclasses.replace(base(budget), error=str(failed)) for budget in missing]
            else:
                for answer in trace.answers:
                    new.append(_scored(base(answer.budget), answer))
            store.append(path, new)
            results.extend(new)
            if progress is not None:
                progress(len(settings.budgets))
    return results


def oracle_correct(response: str, golds: Sequence[str]) -> float:
    """The oracle's accuracy of one reply: the paper's sub-EM of the answer the reply commits to
    (``\\boxed{}`` or "the answer is"); a reply that commits to none is right when a gold alias occurs
    in it as whole words (after normalisation). Small text models such as the embedded reader answer
    in a plain sentence ("X was born in Lindenfall.") and would otherwise score 0 at every budget;
    a VLM that boxes its answer is scored exactly as the paper scores it."""
    scores = score(response, golds)
    if scores.answer is not None:
        return scores.sub_em
    return float(mentions_answer(response, golds))


def _blank_record(
    question: OracleQuestion,
    placement: str,
    budget: int,
    *,
    model: str,
    reader: str,
    answer_prompt: str,
    memory: str,
) -> OracleRecord:
    return OracleRecord(
        reader=reader,
        answer_prompt=answer_prompt,
        question_id=question.question_id,
        placement=placement,
        budget=budget,
        question=question.question,
        golds=question.golds,
        model=model,
        memory_sha=memory_sha(memory),
        memory=memory,
    )


def _scored(record: OracleRecord, answer: Any) -> OracleRecord:
    scores = score(answer.response, record.golds)
    legible = None
    if answer.ocr_text is not None:
        legible = mentions_answer(answer.ocr_text, record.golds)
    return dataclasses.replace(
        record,
        response=answer.response,
        answer=scores.answer,
        correct=oracle_correct(answer.response, record.golds),
        sub_em=scores.sub_em,
        em=scores.em,
        f1=scores.f1,
        answer_legible=legible,
        visual_tokens=answer.visual_tokens,
        image_width=answer.image_width,
        image_height=answer.image_height,
        answer_seconds=answer.answer_seconds,
        ocr_seconds=answer.ocr_seconds,
        ocr_text=answer.ocr_text,
    )


@dataclass
class OracleCell:
    """Accuracy of one placement at one budget, over the questions answered in both placements."""

    placement: str
    budget: int
    n: int
    accuracy: float  # mean of `oracle_correct`, in %
    sub_em: float  # the paper's sub-EM of committed answers only, in %
    committed: float  # % of replies that commit to an answer (\\boxed{} or "the answer is")
    legible: float | None  # % of answers whose gold was in the OCR text (embedded reader only)
    visual_tokens: float | None
    seconds: float | None


def oracle_table(records: Sequence[OracleRecord], budgets: Sequence[int]) -> list[OracleCell]:
    """Cells for every placement × budget. Only questions answered without error in both placements
    at a budget count there, so the two placements are compared on the same questions."""
    by_key = {(r.question_id, r.placement, r.budget): r for r in records if r.error is None}
    cells = []
    for placement in PLACEMENTS:
        for budget in budgets:
            paired = [
                by_key[(qid, placement, budget)]
                for qid in dict.fromkeys(r.question_id for r in records)
                if all((qid, p, budget) in by_key for p in PLACEMENTS)
            ]
            legible = [r.answer_legible for r in paired if r.answer_legible is not None]
            tokens = [r.visual_tokens for r in paired if r.visual_tokens is not None]
            seconds = [r.answer_seconds for r in paired if r.answer_seconds is not None]
            cells.append(
                OracleCell(
                    placement=placement,
                    budget=budget,
                    n=len(paired),
                    accuracy=_percent(r.correct for r in paired),
                    sub_em=_percent(r.sub_em for r in paired),
                    committed=_percent(r.answer is not None for r in paired),
                    legible=_percent(legible) if legible else None,
                    visual_tokens=statistics.fmean(tokens) if tokens else None,
                    seconds=statistics.fmean(seconds) if seconds else None,
                )
            )
    return cells


def _percent(values: Iterable[float | bool | None]) -> float:
    values = [float(v or 0.0) for v in values]
    return 100.0 * statistics.fmean(values) if values else 0.0


def paired_counts(records: Sequence[OracleRecord], budget: int) -> tuple[int, int]:
    """(questions right only with the heading placement, right only with the body placement)."""
    by_key = {(r.question_id, r.placement): r for r in records if r.error is None and r.budget == budget}
    heading_only = body_only = 0
    for qid in dict.fromkeys(r.question_id for r in records):
        heading, body = by_key.get((qid, "heading")), by_key.get((qid, "body"))
        if heading is None or body is None:
            continue
        heading_only += bool(heading.correct) and not body.correct
        body_only += bool(body.correct) and not heading.correct
    return heading_only, body_only


PREMISE_MARGIN = 10.0  # points of accuracy


@dataclass
class Premise:
    shown: bool
    small_budgets: list[int]
    gaps: dict[int, float]  # heading − body accuracy, in points, per budget
    contrary: list[int]  # small budgets where body placement is ahead by the margin or more
    sentence: str


def premise(cells: Sequence[OracleCell], small_budget: int = 64) -> Premise:
    """Whether the run shows the premise: at some budget of at most ``small_budget`` tokens, evidence
    in a heading is answered at least `PREMISE_MARGIN` points more often than the same evidence in
    body text. Small budgets where the body placement is ahead by as much are named in the sentence."""
    accuracy = {(c.placement, c.budget): c.accuracy for c in cells if c.n}
    budgets = sorted({c.budget for c in cells if c.n}, reverse=True)
    gaps = {b: accuracy[("heading", b)] - accuracy[("body", b)] for b in budgets}
    small = [b for b in budgets if b <= small_budget]
    winners = [b for b in small if gaps[b] >= PREMISE_MARGIN]
    contrary = [b for b in small if gaps[b] <= -PREMISE_MARGIN]
    if not budgets:
        sentence = "No oracle answers were recorded, so the premise was not tested."
    elif not small:
        sentence = f"No budget of at most {small_budget} tokens was run, so the premise was not tested."
    elif winners:
        listed = ", ".join(f"{b} tokens (+{gaps[b]:.1f} points)" for b in winners)
        sentence = f"Premise shown: evidence in a heading beats the same evidence in body text at {listed}."
        if contrary:
            against = ", ".join(f"{b} tokens ({gaps[b]:+.1f} points)" for b in contrary)
            sentence += f" Against it: body text is ahead at {against}."
    else:
        listed = ", ".join(f"{b}: {gaps[b]:+.1f}" for b in small)
        sentence = (
            "Premise NOT shown: at no budget of at most "
            f"{small_budget} tokens does heading placement beat body placement by {PREMISE_MARGIN:.0f} "
            f"points or more (heading minus body, in points: {listed})."
        )
    return Premise(shown=bool(winners), small_budgets=small, gaps=gaps, contrary=contrary, sentence=sentence)
