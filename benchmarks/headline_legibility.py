"""How well the OCR reader reads a memory's answer heading at small budgets, per render profile.

    .venv/bin/python benchmarks/headline_legibility.py [--profile full --profile compact] [--n 32]
        [--seed 5] [--split tune]

No model runs: each memory is built in the shape the embedded tier's headline turn leaves (`# Answer:`
with the gold answer, a bold `Looking for:` line with the question, then up to five notes: sentences
of the question's own SQuAD paragraph, the answering one third). Each profile renders the same
memories; the picture is fitted to 1,024, 64 and 16 visual tokens and read by the embedded tier's OCR.
Printed per profile: in how many memories the heading's first line, read at 64 and 16 tokens, holds a
gold answer (the words `Answer:` read around it are dropped), in how many the body read at 1,024
tokens does, and the pictures' mean size. Tune render settings on `--split tune` (the default).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics

from memocr.budget import fit_to_budget
from memocr.data import flashrag, squad
from memocr.metrics import mentions_answer
from memocr.models.ocr import read_image
from memocr.render import PROFILES, Renderer

SMALL_BUDGETS = (64, 16)
HEADING_LABEL = re.compile(r"^Answe\w?\W*")  # "Answer:" as OCR reads it, also glued to the answer


def memory(item: flashrag.Item) -> tuple[str, list[str]]:
    """A memory in the headline turn's shape for `item`, and its gold answers."""
    answers = item.source.answers
    sentences = re.split(r"(?<=[.!?])\s+", item.supporting_facts[0])
    answering = [s for s in sentences if answers[0] in s][:1] or sentences[:1]
    others = [s for s in sentences if s not in answering][:4]
    notes = "\n".join(f"- {sentence}" for sentence in others[:2] + answering + others[2:])
    return f"# Answer: {answers[0]}\n\n**Looking for: {item.source.question}**\n\n{notes}\n", answers


def measure(profile: str, memories: list[tuple[str, list[str]]]) -> dict[str, float]:
    heading = dict.fromkeys(SMALL_BUDGETS, 0)
    body = 0
    sizes = []
    with Renderer(profile=profile) as renderer:
        for markdown, answers in memories:
            image = renderer.render(markdown).image
            sizes.append(image.size)
            lines = read_image(fit_to_budget(image, 1024)).splitlines()
            body += mentions_answer("\n".join(lines[1:]), answers)
            for budget in SMALL_BUDGETS:
                first = (read_image(fit_to_budget(image, budget)).splitlines() or [""])[0]
                heading[budget] += mentions_answer(HEADING_LABEL.sub("", first), answers)
    return {
        **{f"heading@{budget}": heading[budget] for budget in SMALL_BUDGETS},
        "body@1024": body,
        "width": statistics.mean(width for width, _ in sizes),
        "height": statistics.mean(height for _, height in sizes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", action="append", choices=PROFILES, help="default: full and compact")
    parser.add_argument("--n", type=int, default=32, help="memories (questions of the split)")
    parser.add_argument("--seed", type=int, default=5, help="which questions")
    parser.add_argument("--split", choices=squad.SPLITS, default="tune")
    args = parser.parse_args()
    items = squad.prepare(squad.default_source(), args.split).items
    memories = [memory(item) for item in random.Random(args.seed).sample(items, args.n)]
    print(f"{args.n} memories from squad-{args.split} (seed {args.seed}); gold answer read, of {args.n}")
    print(f"{'profile':10s} {'heading@64':>10s} {'heading@16':>10s} {'body@1024':>9s}  mean size")
    for profile in args.profile or ["full", "compact"]:
        row = measure(profile, memories)
        print(
            f"{profile:10s} {row['heading@64']:>10d} {row['heading@16']:>10d} {row['body@1024']:>9d}"
            f"  {row['width']:.0f}x{row['height']:.0f} px",
            flush=True,
        )


if __name__ == "__main__":
    main()
