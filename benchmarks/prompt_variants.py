"""Drafting and answer prompts for the embedded tier, compared on the same questions.

    .venv/bin/python benchmarks/prompt_variants.py --variant shipped --variant answer-first \
        --dataset squad-tune --n 16 --mode visual [--budget 1024,64,16] [--out /tmp/prompt-variants]

Each variant is a set of prompt templates the embedded model suggests in place of its own; everything
else (model, chunking, render profile, greedy decoding) is the shipped default. Each variant runs
`memocr eval` into OUT/VARIANT (re-running resumes), then one table prints sub-EM per variant, dataset,
mode and budget with seconds per question. Tune on `squad-tune` and `offline`; report on `squad-test`
with `memocr eval` once a variant is adopted into `memocr.prompts` (docs/models.md lists what was tried).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections import defaultdict
from pathlib import Path

import memocr.models
from memocr import prompts
from memocr.eval.config import EvalConfig
from memocr.eval.runner import evaluate
from memocr.prompts import PromptTemplate
from memocr.report.data import load_run

TEXT_BLOCKS = (
    "<problem>\n{question}\n</problem>\n\n<memory>\n{memory}\n</memory>\n\n<section>\n{chunk}\n</section>\n\n"
)


def _drafting_pair(markdown_intro: str, markdown_rules: str, text_intro: str, text_rules: str):
    """A candidate's drafting prompts for the visual and the text mode (the method's blocks, then rules)."""
    return {
        "draft-markdown-layout": PromptTemplate(
            "draft-markdown-layout-brief",
            3,
            f"{prompts._DRAFT_OPENING}\n\n{prompts._DRAFT_BLOCKS}\n\n{markdown_intro}"
            + markdown_rules
            + "The updated memory, in Markdown:",
        ),
        "draft-text": PromptTemplate(
            "draft-text-brief",
            3,
            f"{prompts._DRAFT_OPENING}\n\n{TEXT_BLOCKS}{text_intro}" + text_rules + "Updated memory:",
        ),
    }


def _answer_first_rules(answer: str, looking_for: str, note: str, example: str) -> str:
    return (
        f"- The first line is {answer}: the answer to the problem in a few words, as a note states it, "
        "or `not found yet` while no note states it.\n"
        f"- While the answer is not found, the next line is {looking_for}, naming the fact the problem "
        "needs that the notes do not give yet.\n"
        "- Then the notes, one per line: every note of the previous memory, and each fact of the section "
        "about a name in the problem or a name in the notes (for example, where a person the notes name "
        f"was born), in a few words{note}.\n"
        "- If the section contradicts a note, or shows that a note is about something other than what the "
        "problem asks, correct or remove that note, and the first line with it.\n"
        "- Leave out everything else. Never guess.\n\n"
        'Example, for the problem "In which town was the founder of Kelva Mills born?" after a section '
        f"that says Kelva Mills was founded by Orin Dace:\n{example}\n\n"
    )


ANSWER_FIRST = _drafting_pair(
    "Write the updated memory as short notes in Markdown:\n",
    _answer_first_rules(
        "a heading `# Answer: ...`",
        "`Looking for: ...`",
        ", with names, places and years in bold",
        "# Answer: not found yet\nLooking for: where **Orin Dace** was born\n"
        "- **Kelva Mills** was founded by **Orin Dace**.\n\n"
        "and after a later section that says Orin Dace was born in Tarnby:\n"
        "# Answer: Tarnby\n- **Kelva Mills** was founded by **Orin Dace**.\n"
        "- **Orin Dace** was born in **Tarnby**.",
    ),
    "Write the updated memory as short plain sentences:\n",
    _answer_first_rules(
        "`Answer: ...`",
        "`Looking for: ...`",
        "",
        "Answer: not found yet\nLooking for: where Orin Dace was born\n"
        "Kelva Mills was founded by Orin Dace.\n\n"
        "and after a later section that says Orin Dace was born in Tarnby:\n"
        "Answer: Tarnby\nKelva Mills was founded by Orin Dace.\nOrin Dace was born in Tarnby.",
    ),
)


def _best_answer_rules(answer: str, still_needed: str, note: str, example: str) -> str:
    return (
        f"- The first line is {answer}: the best answer to the problem that the notes give, in a few words "
        "(a name, place, number or short phrase taken from the notes). Change it as soon as a note gives "
        "a better one.\n"
        "- Then the notes, one per line: each fact of the section that answers the problem or is about a "
        f"name in the problem or in the notes, in a few words{note}, and the notes of the previous "
        "memory that still matter.\n"
        f"- Last, while the problem needs a fact the notes do not give yet, a line {still_needed} "
        "naming it.\n"
        "- If the section contradicts a note, or shows that a note is about something other than what the "
        "problem asks, correct or remove that note.\n"
        "- Leave out everything else. Never invent a fact.\n\n"
        'Example, for the problem "In which town was the founder of Kelva Mills born?" after a section '
        f"that says Kelva Mills was founded by Orin Dace:\n{example}\n\n"
    )


BEST_ANSWER_FIRST = _drafting_pair(
    "Write the updated memory as short notes in Markdown:\n",
    _best_answer_rules(
        "a heading `# Answer: ...`",
        "`Still needed: ...`",
        ", with names, places and years in bold",
        "# Answer: Orin Dace\n- **Kelva Mills** was founded by **Orin Dace**.\n"
        "Still needed: where **Orin Dace** was born\n\n"
        "and after a later section that says Orin Dace was born in Tarnby:\n"
        "# Answer: Tarnby\n- **Kelva Mills** was founded by **Orin Dace**.\n"
        "- **Orin Dace** was born in **Tarnby**.",
    ),
    "Write the updated memory as short plain sentences:\n",
    _best_answer_rules(
        "`Answer: ...`",
        "`Still needed: ...`",
        "",
        "Answer: Orin Dace\nKelva Mills was founded by Orin Dace.\n"
        "Still needed: where Orin Dace was born\n\n"
        "and after a later section that says Orin Dace was born in Tarnby:\n"
        "Answer: Tarnby\nKelva Mills was founded by Orin Dace.\nOrin Dace was born in Tarnby.",
    ),
)


def _evidence_rules(answer: str, evidence: str, example: str) -> str:
    return (
        f"- The first line is {answer}: the answer to the problem in a few words, taken from the evidence "
        "below (a name, place, number or short phrase). Change it as soon as the evidence gives a better "
        "one.\n"
        f"- Then the evidence, {evidence}: at most three sentences, copied word for word from the section or "
        "kept from the previous memory, that answer the problem or say something about a name in the "
        "problem or in the evidence. The most useful first.\n"
        "- A sentence is evidence only if it is about what the problem asks: the same person, place, thing "
        "or event. Never tie a sentence to the problem when it is about something else.\n"
        "- Keep the previous evidence unless this section gives better; where the section contradicts it, "
        "keep the section's.\n"
        "- Nothing else. Never invent a fact.\n\n"
        'Example, for the problem "In which town was the founder of Kelva Mills born?" after sections '
        "that say Kelva Mills was founded by Orin Dace, and that Orin Dace was born in Tarnby:\n"
        f"{example}\n\n"
    )


EVIDENCE_FIRST = _drafting_pair(
    "Write the updated memory in Markdown:\n",
    _evidence_rules(
        "a heading `# Answer: ...`",
        "one sentence per line starting with `- `, names, places and years in bold",
        "# Answer: Tarnby\n- **Kelva Mills** was founded in 1871 by **Orin Dace**.\n"
        "- **Orin Dace** was born in **Tarnby**, a fishing town.",
    ),
    "Write the updated memory as plain text:\n",
    _evidence_rules(
        "`Answer: ...`",
        "one sentence per line",
        "Answer: Tarnby\nKelva Mills was founded in 1871 by Orin Dace.\n"
        "Orin Dace was born in Tarnby, a fishing town.",
    ),
)


_EXTRACT = (
    "Reply with the answer alone, inside \\boxed{{}}: the few words of the memory that answer the problem, "
    "copied as the memory writes them (a name, a number, a date or a short phrase), never only a name "
    "that the problem itself gives. For example \\boxed{{Paris}} or \\boxed{{the second largest}}."
)
ANSWER_IMAGE_EXTRACT = PromptTemplate(
    "answer-image-brief",
    2,
    "You are given a problem and, in the attached image, your memory of a long article. Answer the "
    f"problem using only the memory. {_EXTRACT}\n\n<problem>\n{{question}}\n</problem>\n\nYour answer:",
)
ANSWER_TEXT_EXTRACT = PromptTemplate(
    "answer-text-brief",
    2,
    "You are given a problem and your memory of a long article. Answer the problem using only the "
    f"memory. {_EXTRACT}\n\n<problem>\n{{question}}\n</problem>\n\n<memory>\n{{memory}}\n</memory>\n\n"
    "Your answer:",
)
HEADLINE_EXTRACT = {"answer-image": ANSWER_IMAGE_EXTRACT, "answer-text": ANSWER_TEXT_EXTRACT}

# What the embedded tier suggested before the headline turn: the same drafting prompts, answers that
# asked for "a short name, place or number taken from the memory".
_ANSWER_V1 = (
    "Reply with the answer alone, a short name, place or number taken from the memory, inside "
    "\\boxed{{}}, for example \\boxed{{Paris}}."
)
BRIEF_V2 = {
    **{key: template for key, template in prompts.BRIEF_PROMPTS.items() if not key.endswith(":headline")},
    "answer-image": PromptTemplate(
        "answer-image-brief",
        1,
        "You are given a problem and, in the attached image, your memory of a long article. Answer the "
        f"problem using only the memory. {_ANSWER_V1}\n\n<problem>\n{{question}}\n</problem>\n\nYour answer:",
    ),
    "answer-text": PromptTemplate(
        "answer-text-brief",
        1,
        "You are given a problem and your memory of a long article. Answer the problem using only the "
        f"memory. {_ANSWER_V1}\n\n<problem>\n{{question}}\n</problem>\n\n<memory>\n{{memory}}\n</memory>"
        "\n\nYour answer:",
    ),
}


def _headline_after(template: PromptTemplate) -> dict[str, PromptTemplate]:
    return {prompts.headline_key(name): template for name in ("draft-markdown-layout", "draft-text")}


# The Markdown memory drafted by the text memory's prompt (blocks in its order, its rules, plain
# sentences without bold) with only the two marker lines as headings. On squad-test the Markdown notes
# held the gold answer less often than the text notes (docs/models.md).
PLAIN_NOTES = {
    "draft-markdown-layout": PromptTemplate(
        "draft-markdown-layout-brief",
        3,
        f"{prompts._DRAFT_OPENING}\n\n{TEXT_BLOCKS}"
        "Write the updated memory as short plain sentences, in Markdown:\n"
        + prompts._brief_rules(
            "- Start with a heading `# Looking for: ...`",
            "",
            "a heading `# Answer: ...`",
            "# Looking for: where Orin Dace was born\nKelva Mills was founded by Orin Dace.",
        )
        + "The updated memory, in Markdown:",
    )
}


def _skip_unrelated_rules(looking_for: str, note: str, answer: str, example: str) -> str:
    return (
        f"{looking_for} naming the fact the problem needs that the notes do not give yet.\n"
        "- Then the notes, one per line: every note of the previous memory, and each fact the section "
        "states about a name in the problem or a name in the notes (for example, where a person the notes "
        f"name was born), in a few words{note}.\n"
        "- Most sections are about other subjects. If this one says nothing about the names in the "
        "problem or the notes, add nothing: write the previous memory unchanged.\n"
        "- A note states only what the section says about the same subject; never join a fact about one "
        "subject to a name of another. Never guess.\n"
        f"- Last, only if a note states the answer to the problem, {answer}.\n\n"
        'Example, for the problem "In which town was the founder of Kelva Mills born?" after a section '
        f"that says Kelva Mills was founded by Orin Dace:\n{example}\n\n"
        "The problem again: {question}\n\n"
    )


SKIP_UNRELATED = _drafting_pair(
    "Write the updated memory as short notes in Markdown:\n",
    _skip_unrelated_rules(
        "- Start with a heading `# Looking for: ...`",
        ", with names, places and years in bold",
        "a heading `# Answer: ...`",
        "# Looking for: where **Orin Dace** was born\n- **Kelva Mills** was founded by **Orin Dace**.",
    ),
    "Write the updated memory as short plain sentences:\n",
    _skip_unrelated_rules(
        "- Start with a line `Looking for: ...`",
        "",
        "a line `Answer: ...`",
        "Looking for: where Orin Dace was born\nKelva Mills was founded by Orin Dace.",
    ),
)


# The memory a headline turn wrote starts with `Answer: ...`; these answer prompts say so.
_COPY_HEADLINE = (
    "The memory's first line, `Answer: ...`, is the answer found while reading. Reply with the words of "
    "that line exactly as they are written, unless a note under it shows they are wrong, inside "
    "\\boxed{{}}, for example \\boxed{{Paris}}."
)
COPY_HEADLINE = {
    "answer-image": PromptTemplate(
        "answer-image-brief",
        3,
        "You are given a problem and, in the attached image, your memory of a long article. Answer the "
        f"problem using only the memory. {_COPY_HEADLINE}\n\n<problem>\n{{question}}\n</problem>\n\n"
        "Your answer:",
    ),
    "answer-text": PromptTemplate(
        "answer-text-brief",
        3,
        "You are given a problem and your memory of a long article. Answer the problem using only the "
        f"memory. {_COPY_HEADLINE}\n\n<problem>\n{{question}}\n</problem>\n\n<memory>\n{{memory}}\n"
        "</memory>\n\nYour answer:",
    ),
}
HEADLINE_PHRASE = PromptTemplate(
    "headline-brief",
    2,
    "<memory>\n{memory}\n</memory>\n\n"
    "You are given a problem and, above, your memory of a long article. Answer the problem using only "
    "the memory. Reply with the answer alone, the few words of the memory that answer the problem, "
    "copied as the memory writes them (a name, a number, a date or a short phrase), inside \\boxed{{}}, "
    "for example \\boxed{{Paris}} or \\boxed{{the second largest}}.\n\n"
    "<problem>\n{question}\n</problem>\n\n"
    "Your answer:",
)


# The shipped Markdown drafting prompt with the blocks in the text prompt's order (the memory before the
# section, so the section is the last thing read before writing), everything else unchanged.
MEMORY_BEFORE_SECTION = {
    "draft-markdown-layout": PromptTemplate(
        "draft-markdown-layout-brief",
        3,
        prompts.DRAFT_MARKDOWN_LAYOUT_BRIEF.text.replace(prompts._DRAFT_BLOCKS, TEXT_BLOCKS.rstrip("\n")),
    ),
}


# Candidates measured against each other (docs/models.md); the adopted one is in memocr.prompts.
VARIANTS: dict[str, dict[str, PromptTemplate]] = {
    "shipped": dict(prompts.BRIEF_PROMPTS),
    "brief-v2": BRIEF_V2,
    "answer-first": {**BRIEF_V2, **ANSWER_FIRST},
    "best-answer-first": {**BRIEF_V2, **BEST_ANSWER_FIRST},
    "evidence-first": {**BRIEF_V2, **EVIDENCE_FIRST},
    "headline": {**BRIEF_V2, **_headline_after(BRIEF_V2["answer-text"])},
    "headline-extract": {**BRIEF_V2, **HEADLINE_EXTRACT, **_headline_after(ANSWER_TEXT_EXTRACT)},
    "headline-memory-first": {**BRIEF_V2, **_headline_after(prompts.HEADLINE_BRIEF)},
    "plain-notes": {**prompts.BRIEF_PROMPTS, **PLAIN_NOTES},
    "skip-unrelated": {**prompts.BRIEF_PROMPTS, **SKIP_UNRELATED},
    "copy-headline": {**prompts.BRIEF_PROMPTS, **COPY_HEADLINE},
    "memory-before-section": {**prompts.BRIEF_PROMPTS, **MEMORY_BEFORE_SECTION},
    "copy-headline-phrase": {
        **prompts.BRIEF_PROMPTS,
        **COPY_HEADLINE,
        **_headline_after(HEADLINE_PHRASE),
    },
}


def _with_prompts(variant: dict[str, PromptTemplate]):
    load = memocr.models.load_model

    def load_with_variant(spec, **options):
        model = load(spec, **options)
        model.suggested_prompts = {**model.suggested_prompts, **variant}
        return model

    return load_with_variant


def run_variant(name: str, args: argparse.Namespace) -> Path:
    out = args.out / (name if args.chunk_tokens is None else f"{name}-chunk{args.chunk_tokens}")
    memocr.models.load_model = _with_prompts(VARIANTS[name])
    config = EvalConfig(
        dataset=args.dataset, length=[args.length], n=args.n, mode=args.mode, budget=args.budget,
        model=args.model, out=out, chunk_tokens=args.chunk_tokens,
    )  # fmt: skip
    outcome = evaluate(config)
    if outcome.failures:
        print(f"{name}: {len(outcome.failures)} failures, first: {outcome.failures[0]}")
    return out


def replay(name: str, source: Path, args: argparse.Namespace) -> list[str]:
    """Only the closing turn and the answers of variant `name`, on the final memories of run `source`
    (the drafts a variant with the same drafting prompts wrote), as sub-EM per mode and budget."""
    from memocr.agent import AgentSettings, MemoryAgent, Question
    from memocr.metrics import sub_exact_match
    from memocr.render import AsyncRenderer

    model = _with_prompts(VARIANTS[name])(args.model)
    hits: dict[tuple[str, int], list[float]] = defaultdict(list)

    async def go() -> None:
        async with AsyncRenderer() as renderer:
            for draft in load_run(source).drafts:
                agent = MemoryAgent(model, AgentSettings(mode=draft.mode), renderer)
                memory = draft.final_memory
                if agent.mode.headline_prompt is not None:
                    plan = agent.plan(draft.question, args.budget)
                    sampling = agent.settings.sampling(plan.max_answer_tokens)
                    memory = (await agent._headline(draft.question, memory, draft.chunks, sampling)).memory
                question = Question("", draft.question, draft.question_id, draft.golds)
                trace = await agent.answer_from_memory(question, memory, args.budget)
                for answer in trace.answers:
                    hits[draft.mode, answer.budget].append(sub_exact_match(answer.answer, draft.golds))
                print(
                    draft.question_id,
                    draft.golds[:2],
                    memory.splitlines()[0][:60],
                    [a.answer for a in trace.answers],
                )

    asyncio.run(go())
    budgets = sorted(args.budget, reverse=True)
    rows = [
        f"| {name} (replay of {source.name}) | {mode} | {len(hits[mode, budgets[0]])} | "
        + " | ".join(f"{100 * statistics.mean(hits[mode, b]):.0f}%" for b in budgets)
        + " |"
        for mode in sorted({mode for mode, _ in hits})
    ]
    return ["| variant | mode | n | " + " | ".join(map(str, budgets)) + " |", *rows]


def summary(name: str, out: Path) -> list[str]:
    run = load_run(out)
    hits: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    for record in run.results:
        hits[record.dataset, record.mode, record.budget].append(record.sub_em or 0.0)
    for draft in run.drafts:
        seconds[draft.dataset, draft.mode].append(draft.draft_seconds)
    budgets = sorted({budget for _, _, budget in hits}, reverse=True)
    rows = []
    for dataset, mode in sorted({(d, m) for d, m, _ in hits}):
        cells = [f"{100 * statistics.mean(hits[dataset, mode, b]):.0f}%" for b in budgets]
        n = len(hits[dataset, mode, budgets[0]])
        per_question = statistics.mean(seconds[dataset, mode]) if seconds[dataset, mode] else float("nan")
        rows.append(
            f"| {name} | {dataset} | {mode} | {n} | " + " | ".join(cells) + f" | {per_question:.0f} |"
        )
    header = "| variant | dataset | mode | n | " + " | ".join(map(str, budgets)) + " | s/question |"
    return [header, "|" + "---|" * (header.count("|") - 1), *rows]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--dataset", action="append", default=None)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--mode", action="append", default=None)
    parser.add_argument(
        "--budget", type=lambda text: [int(b) for b in text.split(",")], default=[1024, 64, 16]
    )
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--chunk-tokens", type=int, default=None, help="default: the model's suggestion")
    parser.add_argument("--out", type=Path, default=Path("/tmp/prompt-variants"))
    parser.add_argument("--replay", type=Path, help="a run whose final memories the variants answer from")
    args = parser.parse_args()
    if args.replay is not None:
        for name in args.variant:
            print("\n".join(replay(name, args.replay, args)))
        return
    args.dataset = args.dataset or ["squad-tune"]
    args.mode = args.mode or ["visual"]
    lines: list[str] = []
    for name in args.variant:
        table = summary(name, run_variant(name, args))
        lines += table if not lines else table[2:]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
