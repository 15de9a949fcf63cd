"""The oracle experiment: memories that differ only by where the evidence is, answered per budget."""

from __future__ import annotations

import asyncio
import json

import pytest

from memocr.agent import MODES, AgentSettings, MemoryAgent
from memocr.analysis.oracle import (
    NEUTRAL_FILLER,
    OracleQuestion,
    OracleSettings,
    build_memory,
    choose_filler,
    oracle_correct,
    oracle_memories,
    oracle_questions,
    oracle_table,
    paired_counts,
    premise,
    read_oracle,
    run_oracle,
)
from memocr.analysis.regions import split_regions
from memocr.data.record import QARecord
from memocr.errors import InputError
from memocr.render import AsyncRenderer
from scripted_model import ScriptedModel

EVIDENCE = ["Gaecor Mills was founded by Feimei Thakofaer.", "Feimei Thakofaer was born in Grestombury."]
FILLER = [f"Filler sentence number {i} about the harbour." for i in range(7)]


def questions() -> list[OracleQuestion]:
    return [
        OracleQuestion("q1", "Where was the founder of Gaecor Mills born?", ["Grestombury"], EVIDENCE),
        OracleQuestion(
            "q2",
            "Which river flows through Neibonstead?",
            ["Bezun River"],
            ["The Bezun River flows through Neibonstead.", "Neibonstead lies in a valley."],
        ),
    ]


def without_evidence(memory: str) -> list[str]:
    line = " ".join(EVIDENCE)
    return [block for block in memory.strip().split("\n\n") if line not in block]


def test_heading_and_body_memories_share_the_filler_and_differ_only_by_the_marker():
    heading = build_memory(EVIDENCE, FILLER, "heading")
    body = build_memory(EVIDENCE, FILLER, "body")
    line = " ".join(EVIDENCE)
    assert heading.startswith(f"# {line}\n\n")
    assert body.startswith(f"{line}\n\n")
    assert heading == "# " + body  # top position: the heading marker is the only change
    assert without_evidence(heading) == without_evidence(body)
    assert without_evidence(body) == [" ".join(FILLER[0:3]), " ".join(FILLER[3:6]), FILLER[6]]
    assert split_regions(heading).crucial == [line]
    assert split_regions(body).crucial == []
    assert line in split_regions(body).detailed_text


def test_middle_position_puts_the_evidence_after_half_of_the_filler_paragraphs():
    body = build_memory(EVIDENCE, FILLER, "body", body_position="middle")
    blocks = body.strip().split("\n\n")
    assert blocks[2] == " ".join(EVIDENCE)
    assert without_evidence(body) == without_evidence(build_memory(EVIDENCE, FILLER, "heading"))
    # The heading placement keeps its heading on top whatever the body position.
    heading = build_memory(EVIDENCE, FILLER, "heading", body_position="middle")
    assert heading.startswith("# ")


def test_evidence_that_looks_like_markdown_stays_body_text():
    body = build_memory(["1999 was the year.", "- dash"], FILLER, "body")
    assert split_regions(body).crucial == []
    assert body.startswith("\\1999 was the year.")


def test_build_memory_refuses_empty_evidence_and_unknown_placements():
    with pytest.raises(InputError, match="evidence"):
        build_memory(["  "], FILLER, "heading")
    with pytest.raises(InputError, match="placement"):
        build_memory(EVIDENCE, FILLER, "footer")  # type: ignore[arg-type]


def test_filler_comes_from_other_questions_skips_the_answer_and_is_deterministic():
    qs = questions()
    qs.append(
        OracleQuestion(
            "q3", "Who lives in Grestombury?", ["Ana"], ["Ana lives in Grestombury.", "Ana bakes bread."]
        )
    )
    filler = choose_filler(qs[0], qs, count=6, seed=0)
    assert filler == choose_filler(qs[0], qs, count=6, seed=0)
    assert len(filler) == 6
    assert not any("Grestombury" in sentence for sentence in filler)  # the gold answer never appears
    assert not set(filler) & set(EVIDENCE)
    assert {"The Bezun River flows through Neibonstead.", "Ana bakes bread."} <= set(filler)
    assert set(filler) - set(qs[1].evidence + qs[2].evidence) <= set(NEUTRAL_FILLER)
    built = dict(
        (q.question_id, memories) for q, memories in oracle_memories(qs, OracleSettings(filler_sentences=6))
    )
    heading, body = built["q1"]["heading"], built["q1"]["body"]
    assert without_evidence(heading) == without_evidence(body)
    assert len(" ".join(without_evidence(body)).split(". ")) == 6


def test_oracle_questions_from_drafts_and_dataset_records():
    record = QARecord(
        id="r1",
        dataset="offline",
        input="Q?",
        answers=["A"],
        context="",
        num_docs=1,
        index=0,
        supporting_facts=["A fact.", " "],
    )
    bare = QARecord(id="r2", dataset="offline", input="Q2?", answers=["B"], context="", num_docs=1, index=1)
    assert oracle_questions([record, bare, record]) == [OracleQuestion("r1", "Q?", ["A"], ["A fact."])]
    other = QARecord(**{**record.to_dict(), "id": "r3"})
    assert [q.question_id for q in oracle_questions([record, other], limit=1)] == ["r1"]


def test_a_paragraph_fact_is_cut_to_its_sentences_that_name_the_answer_and_a_bridging_fact_is_kept():
    paragraph = (
        "The line opened in 1804. Trains ran from Pen-y-darren to Abercynon. "
        "The engine was built by Richard Trevithick in the United Kingdom. It weighed five tons."
    )
    bridge = "Saltgate Library was designed by Edda Vale."
    record = QARecord(
        id="s1", dataset="squad", input="Who built it?", answers=["Richard Trevithick"], context="",
        num_docs=1, index=0, supporting_facts=[paragraph, bridge, "No sentence here names it. None at all."],
    )  # fmt: skip
    (question,) = oracle_questions([record])
    assert question.evidence == [
        "The engine was built by Richard Trevithick in the United Kingdom.",
        bridge,
        "No sentence here names it. None at all.",
    ]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("So \\boxed{Grestombury}.", 1.0),
        ("\\boxed{Paris}, though Grestombury is mentioned", 0.0),  # a committed answer is what counts
        ("The founder was born in Grestombury, a small town.", 1.0),
        ("The founder was born in Grestomburyville.", 0.0),  # whole words only
        ("I cannot read the memory.", 0.0),
    ],
)
def test_oracle_correct(reply, expected):
    assert oracle_correct(reply, ["Grestombury"]) == expected


def scripted_reply(script: list[bool]):
    """Answer right or wrong in the order the oracle asks: per question, heading budgets, then body."""
    calls = iter(script)

    def reply(prompt: str, images: list) -> str:
        assert len(images) == 1  # the answer turn sees the memory as an image only
        right = next(calls)
        if "Gaecor" in prompt:
            return "\\boxed{Grestombury}" if right else "\\boxed{Paris}"
        return "It is the Bezun River." if right else "I do not know."

    return reply


BUDGETS = [1024, 64, 16]
# heading: right at every budget; body: right at 1024 only (two questions).
SCRIPT = [True, True, True, True, False, False] * 2


async def run_with(model, path, settings=None, qs=None):
    async with AsyncRenderer(pages=1) as renderer:
        agent = MemoryAgent(model, AgentSettings(mode="visual"), renderer)
        return await run_oracle(agent, qs or questions(), settings or OracleSettings(budgets=BUDGETS), path)


@pytest.mark.slow
def test_oracle_run_records_every_answer_and_resumes_without_asking_again(tmp_path):
    path = tmp_path / "oracle.jsonl"
    model = ScriptedModel(scripted_reply(SCRIPT))
    seen: list[int] = []

    async def go():
        async with AsyncRenderer(pages=1) as renderer:
            agent = MemoryAgent(model, AgentSettings(mode="visual"), renderer)
            return await run_oracle(
                agent, questions(), OracleSettings(budgets=BUDGETS), path, progress=seen.append
            )

    records = asyncio.run(go())
    assert len(model.calls) == 12 == len(records)
    assert sum(seen) == 12
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 12
    assert {(r["question_id"], r["placement"], r["budget"]) for r in lines} == {
        (q, p, b) for q in ("q1", "q2") for p in ("heading", "body") for b in BUDGETS
    }
    for record in records:
        assert record.visual_tokens is not None and record.visual_tokens <= record.budget
        assert record.error is None and record.model == "scripted"
        assert record.memory.startswith("# ") == (record.placement == "heading")
    q1_heading = [r for r in records if r.question_id == "q1" and r.placement == "heading"]
    assert {r.answer for r in q1_heading} == {"Grestombury"}  # boxed: committed answers
    q2_body_16 = next(r for r in records if (r.question_id, r.placement, r.budget) == ("q2", "body", 16))
    assert q2_body_16.answer is None and q2_body_16.correct == 0.0

    cells = {(c.placement, c.budget): c for c in oracle_table(records, BUDGETS)}
    assert [cells[("heading", b)].accuracy for b in BUDGETS] == [100.0, 100.0, 100.0]
    assert [cells[("body", b)].accuracy for b in BUDGETS] == [100.0, 0.0, 0.0]
    assert cells[("heading", 16)].n == 2
    assert cells[("heading", 16)].sub_em == 50.0  # only q1's replies are boxed
    assert cells[("heading", 16)].committed == 50.0
    assert paired_counts(records, 16) == (2, 0)
    verdict = premise(oracle_table(records, BUDGETS))
    assert verdict.shown and verdict.gaps == {1024: 0.0, 64: 100.0, 16: 100.0}
    assert "Premise shown" in verdict.sentence

    # A second run over the same file asks nothing and returns the same records.
    again = ScriptedModel(scripted_reply([]))
    reused = asyncio.run(run_with(again, path))
    assert again.calls == [] and len(reused) == 12
    assert len(path.read_text().splitlines()) == 12

    # Other settings (here more filler, so other memories) are answered anew, in the same file.
    other = ScriptedModel(scripted_reply([True] * 12))
    asyncio.run(run_with(other, path, OracleSettings(budgets=BUDGETS, filler_sentences=3)))
    assert len(other.calls) == 12
    assert len(read_oracle(path)) == 24


@pytest.mark.slow
def test_failed_answers_are_recorded_and_retried_by_the_next_run(tmp_path):
    path = tmp_path / "oracle.jsonl"

    def flaky(prompt: str, images: list) -> str:
        if "Neibonstead" in prompt:
            raise RuntimeError("backend fell over")
        return "\\boxed{Grestombury}"

    records = asyncio.run(run_with(ScriptedModel(flaky), path))
    failed = [r for r in records if r.error]
    assert {r.question_id for r in failed} == {"q2"} and len(failed) == 6
    assert "backend fell over" in failed[0].error
    cells = oracle_table(records, BUDGETS)
    assert {c.n for c in cells} == {1}  # only q1 counts, answered in both placements

    # A torn last line (a killed writer) is cut, and the failed answers are asked again.
    with path.open("a") as stream:
        stream.write('{"question_id": "q2", "plac')
    fixed = ScriptedModel(lambda prompt, images: "\\boxed{Bezun River}")
    records = asyncio.run(run_with(fixed, path))
    assert len(fixed.calls) == 6  # q2 only: two placements × three budgets
    assert not any(r.error for r in records) and len(records) == 12
    assert {c.n for c in oracle_table(records, BUDGETS)} == {2}


def test_premise_not_shown_is_said_plainly():
    from memocr.analysis.oracle import OracleCell

    def cell(placement, budget, accuracy):
        return OracleCell(placement, budget, 10, accuracy, accuracy, 100.0, None, None, None)

    cells = [cell("heading", 1024, 80), cell("heading", 16, 40), cell("body", 1024, 80), cell("body", 16, 35)]
    verdict = premise(cells)
    assert not verdict.shown
    assert verdict.sentence.startswith("Premise NOT shown") and "16: +5.0" in verdict.sentence
    mixed = premise([*cells[:2], cell("heading", 64, 30), *cells[2:], cell("body", 64, 90)])
    assert mixed.shown is False and mixed.contrary == [64]
    cells[3] = cell("body", 16, 0)
    mixed = premise([*cells, cell("heading", 64, 30), cell("body", 64, 90)])
    assert mixed.shown and mixed.contrary == [64] and mixed.gaps[16] == 40.0
    assert mixed.sentence.endswith("Against it: body text is ahead at 64 tokens (-60.0 points).")
    assert not premise([c for c in cells if c.budget == 1024]).shown
    assert "not tested" in premise([c for c in cells if c.budget == 1024]).sentence


@pytest.mark.slow
def test_a_larger_limit_reuses_the_answers_of_a_smaller_one(tmp_path):
    path = tmp_path / "oracle.jsonl"

    async def go(model, limit):
        async with AsyncRenderer(pages=1) as renderer:
            agent = MemoryAgent(model, AgentSettings(mode="visual"), renderer)
            settings = OracleSettings(budgets=[64])
            return await run_oracle(agent, questions(), settings, path, limit=limit)

    first = ScriptedModel(lambda prompt, images: "\\boxed{x}")
    records = asyncio.run(go(first, 1))
    assert {r.question_id for r in records} == {"q1"} and len(first.calls) == 2
    second = ScriptedModel(lambda prompt, images: "\\boxed{x}")
    records = asyncio.run(go(second, None))
    assert {r.question_id for r in records} == {"q1", "q2"}
    assert len(second.calls) == 2 and all("Neibonstead" in call["prompt"] for call in second.calls)


@pytest.mark.slow
def test_records_name_the_reader_and_prompt_and_a_new_prompt_is_answered_anew(tmp_path):
    path = tmp_path / "oracle.jsonl"
    records = asyncio.run(run_with(ScriptedModel(lambda p, i: "\\boxed{x}"), path, qs=questions()[:1]))
    assert {r.reader for r in records} == {"scripted"}
    assert {r.answer_prompt for r in records} == {MODES["visual"].answer_prompt.id}
    # The same spec string with another answer prompt (e.g. a model that now suggests one) is not reused.
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**line, "answer_prompt": "old"}) + "\n" for line in lines))
    again = ScriptedModel(lambda p, i: "\\boxed{x}")
    asyncio.run(run_with(again, path, qs=questions()[:1]))
    assert len(again.calls) == 6


def test_oracle_markdown_has_accuracy_rows_then_legibility_rows_when_known():
    from memocr.analysis.oracle import OracleCell
    from memocr.analysis.tables import oracle_markdown

    def cell(placement, budget, accuracy, legible=None):
        return OracleCell(placement, budget, 4, accuracy, accuracy, 100.0, legible, None, None)

    cells = [cell("heading", 1024, 75), cell("heading", 16, 50), cell("body", 1024, 75), cell("body", 16, 25)]
    table = oracle_markdown(cells, [1024, 16])
    assert "| placement | 1024 | 16 |" in table and "| body | 75.0 (n=4) | 25.0 (n=4) |" in table
    assert "legible" not in table
    cells[1] = cell("heading", 16, 50, legible=100.0)
    assert "| heading | – | 100.0 |" in oracle_markdown(cells, [1024, 16])
