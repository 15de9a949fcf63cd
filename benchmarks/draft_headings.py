"""Where does a small policy put the answer in its first Markdown draft, under each drafting prompt?

    .venv/bin/python benchmarks/draft_headings.py                       # SmolLM2-135M, every Markdown prompt
    .venv/bin/python benchmarks/draft_headings.py --questions 16 --samples 8

RL on the rendered memory (`benchmarks/train_layout.py`) can only reward a heading the policy sometimes
writes: T_augM pays when the answer is still legible on the degraded picture, which happens only for a
heading. This prints, per prompt in `memocr.prompts.MARKDOWN_DRAFT_PROMPTS`, how many sampled first
drafts have a heading, the answer in a heading, and the answer only in the body text. The questions are
the one-hop offline questions of train_layout.py, drawn with their own data seed (neither its training
nor its held-out questions); sampling as in its rollouts (T = 0.7, 64 tokens), through llama.cpp with
the same SmolLM2-135M-Instruct GGUF the training converts.
"""

from __future__ import annotations

import argparse
import asyncio

from train_signal import one_hop

from memocr.analysis.regions import split_regions
from memocr.data.offline import build_offline
from memocr.models import load_model
from memocr.models.base import SamplingParams
from memocr.prompts import INITIAL_MEMORY, MARKDOWN_DRAFT_PROMPTS


def placement(draft: str, answer: str) -> tuple[bool, bool, bool]:
    """(has a heading, the answer is in a heading, the answer is only in body text)."""
    regions = split_regions(draft)
    in_heading = answer.lower() in regions.crucial_text.lower()
    in_body = answer.lower() in regions.detailed_text.lower()
    return bool(regions.crucial), in_heading, in_body and not in_heading


async def count(model, prompt_name: str, records: list, samples: int, seed: int) -> list[int]:
    """[drafts, with a heading, answer in a heading, answer in the body only] over every sample."""
    template = MARKDOWN_DRAFT_PROMPTS[prompt_name]
    flags = []
    for record in records:
        prompt = template.format(question=record.input, chunk=record.context, memory=INITIAL_MEMORY)
        for sample in range(samples):
            sampling = SamplingParams(max_tokens=64, temperature=0.7, seed=seed + sample)
            completion = await model.chat([{"role": "user", "content": prompt}], sampling)
            flags.append(placement(completion.text, record.answers[0]))
    return [len(flags), *(sum(column) for column in zip(*flags, strict=True))] if flags else [0, 0, 0, 0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded:tiny", help="model spec (default: SmolLM2-135M)")
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4, help="sampled drafts per question and prompt")
    parser.add_argument("--data-seed", type=int, default=5, help="train_layout.py's questions use 0")
    parser.add_argument("--documents", type=int, default=3, help="documents per context")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    records = [one_hop(r) for r in build_offline(args.documents, args.questions, seed=args.data_seed)]
    model = load_model(args.model)
    header = ("prompt", "drafts", "heading", "answer in heading", "answer in body only")
    print(f"{header[0]:<28} {header[1]:>6} {header[2]:>8} {header[3]:>17} {header[4]:>19}")
    for name in MARKDOWN_DRAFT_PROMPTS:
        drafts, heading, in_heading, body_only = asyncio.run(
            count(model, name, records, args.samples, args.seed)
        )
        print(f"{name:<28} {drafts:>6} {heading:>8} {in_heading:>17} {body_only:>19}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
