"""Fitting the agent's token settings to a model's context window, before the first turn.

A drafting turn holds the drafting prompt (with the question), one chunk, the previous memory (at
most ``max_memory_tokens``) and room for the new memory (``max_memory_tokens`` more); an answer turn
holds the answer prompt, the memory as the model sees it (text tokens, or visual tokens for a
vision-language model) and room for the answer. Both must fit the context, or a runtime would have to
cut or shift the prompt, which silently drops what the memory is for.

Settings the user left unset (None) start from what the model suggests, else the paper's values, and
are then lowered to fit, by this rule: the chunk gives way first (down to `MIN_CHUNK_TOKENS`); if
the memory cap is unset too and the chunk would fall below that, the memory cap shrinks to a quarter
of the room, so that the chunk keeps at least half; an unset answer cap shrinks to what is left.
Settings the user gave are never changed: when they do not fit, `ContextLengthError` says which
numbers to lower and to what.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from memocr.errors import ContextLengthError

PAPER_SETTINGS: Mapping[str, int] = {
    "chunk_tokens": 5000,
    "max_memory_tokens": 2048,
    "max_answer_tokens": 512,
}
# Chat-format markers, a default system prompt and re-tokenisation of the memory the model wrote.
FORMAT_MARGIN_TOKENS = 64
MIN_CHUNK_TOKENS = 128
MIN_MEMORY_TOKENS = 64
MIN_ANSWER_TOKENS = 16


@dataclass(frozen=True)
class TokenPlan:
    """Token settings that fit the model, and the worst-case size of each kind of request."""

    chunk_tokens: int
    max_memory_tokens: int
    max_answer_tokens: int
    context_length: int | None
    draft_request_tokens: int
    answer_request_tokens: int
    adjustments: tuple[str, ...] = ()


def plan_tokens(
    requested: Mapping[str, int | None],
    *,
    suggested: Mapping[str, int],
    context_length: int | None,
    draft_prompt_tokens: int,
    answer_prompt_tokens: int,
    answer_view_tokens: Callable[[int], int],
    model_name: str,
) -> TokenPlan:
    """Resolve ``requested`` (``chunk_tokens``, ``max_memory_tokens``, ``max_answer_tokens``; None =
    unset) against ``context_length``.

    ``draft_prompt_tokens`` and ``answer_prompt_tokens`` are the prompts' own tokens with the question
    in, without chunk or memory; ``answer_view_tokens(max_memory_tokens)`` is the most tokens the
    memory can take in an answer turn.
    """
    unset = {name for name in PAPER_SETTINGS if requested.get(name) is None}
    values = {
        name: requested.get(name) or suggested.get(name) or default
        for name, default in PAPER_SETTINGS.items()
    }
    chunk, memory, answer = values["chunk_tokens"], values["max_memory_tokens"], values["max_answer_tokens"]
    draft_overhead = draft_prompt_tokens + FORMAT_MARGIN_TOKENS
    answer_overhead = answer_prompt_tokens + FORMAT_MARGIN_TOKENS
    if context_length is None:
        return TokenPlan(
            chunk, memory, answer, None, draft_overhead + chunk + 2 * memory,
            answer_overhead + answer_view_tokens(memory) + answer,
        )  # fmt: skip

    adjustments: list[str] = []
    room = context_length - draft_overhead
    if chunk + 2 * memory > room:
        fitted_chunk, fitted_memory = chunk, memory
        if "chunk_tokens" in unset:
            fitted_chunk = room - 2 * memory
            if fitted_chunk < MIN_CHUNK_TOKENS and "max_memory_tokens" in unset:
                fitted_memory = min(memory, room // 4)
                fitted_chunk = min(chunk, room - 2 * fitted_memory)
        elif "max_memory_tokens" in unset:
            fitted_memory = (room - chunk) // 2
        if fitted_chunk >= MIN_CHUNK_TOKENS and fitted_memory >= MIN_MEMORY_TOKENS:
            if fitted_chunk != chunk:
                adjustments.append(f"chunk_tokens {chunk} -> {fitted_chunk}")
            if fitted_memory != memory:
                adjustments.append(f"max_memory_tokens {memory} -> {fitted_memory}")
            chunk, memory = fitted_chunk, fitted_memory
    draft_request = draft_overhead + chunk + 2 * memory
    if draft_request > context_length:
        raise ContextLengthError(_draft_message(model_name, context_length, draft_overhead, chunk, memory))

    view = answer_view_tokens(memory)
    answer_room = context_length - answer_overhead - view
    if answer > answer_room and "max_answer_tokens" in unset and answer_room >= MIN_ANSWER_TOKENS:
        adjustments.append(f"max_answer_tokens {answer} -> {answer_room}")
        answer = answer_room
    answer_request = answer_overhead + view + answer
    if answer_request > context_length:
        raise ContextLengthError(
            f"answering does not fit the {context_length:,}-token context of {model_name}: the answer "
            f"prompt (~{answer_overhead:,} tokens with the question) + the memory as shown (up to "
            f"{view:,}) + the answer (up to {answer:,}) = {answer_request:,} tokens. Lower "
            "--max-answer-tokens or the largest --budget."
        )
    return TokenPlan(chunk, memory, answer, context_length, draft_request, answer_request, tuple(adjustments))


def _draft_message(model_name: str, context_length: int, overhead: int, chunk: int, memory: int) -> str:
    total = overhead + chunk + 2 * memory
    room = context_length - overhead
    fixes = []
    if room - 2 * memory >= 1:
        fixes.append(f"--chunk-tokens to at most {room - 2 * memory:,}")
    if (room - chunk) // 2 >= 1:
        fixes.append(f"--max-memory-tokens to at most {(room - chunk) // 2:,}")
    if not fixes and room >= 4:
        fixes.append(f"both, e.g. --chunk-tokens {room // 2:,} --max-memory-tokens {room // 4:,}")
    fix = " or ".join(fixes) if fixes else "the question: it leaves no room for a chunk"
    return (
        f"drafting does not fit the {context_length:,}-token context of {model_name}: the drafting "
        f"prompt (~{overhead:,} tokens with the question) + a chunk of {chunk:,} + the previous memory "
        f"(up to {memory:,}) + the new memory (up to {memory:,}) = {total:,} tokens. Lower {fix}."
    )
