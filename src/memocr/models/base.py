"""The one interface every model backend implements, and the records it returns.

The agent, the evaluation runner and the trainer only ever see a `ChatModel`: OpenAI-style messages
in, a `Completion` with usage and timings out. Backends stay thin translations of that contract to
one runtime each (an OpenAI-compatible server, transformers, llama.cpp, OCR in front of a text model).
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
import operator
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from memocr.errors import ConfigError, ContextLengthError, ModelError
from memocr.prompts import PromptTemplate

# {"role": "system" | "user" | "assistant", "content": str | list[part]}; a part is
# {"type": "text", "text": str} or {"type": "image", "image": PIL.Image.Image}.
Message = dict[str, Any]


# CPU backends (llama.cpp, the OCR engine, transformers on the CPU) each use every core. Run side by
# side they slow each other down far more than twice: llama.cpp's threads spin-wait on each other, and
# with a second busy job on two cores its decode fell from ~40 to 1-8 tokens/s. So CPU-bound work in
# one process takes turns under this lock, whatever model or question it belongs to.
CPU_LOCK = threading.Lock()


@runtime_checkable
class Tokenizer(Protocol):
    """The drafting model's tokenizer: used to chunk documents and to truncate text memories."""

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without special tokens."""
        ...

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`."""
        ...


@dataclass(frozen=True)
class SamplingParams:
    """How one completion is generated: the sampling settings every backend takes, as one value.

    Greedy when `temperature` is 0; otherwise sampled at that temperature from the top-p nucleus.
    `seed` makes a sampled completion reproducible where the backend honours it (transformers, vLLM,
    llama.cpp); a trainer drawing several samples of one prompt gives each its own (`with_seed`).
    `logprobs` asks for the token ids of the prompt and the completion and the log-probability of
    each completion token (`Completion.prompt_ids`, `completion_ids`, `logprobs`), what a
    policy-gradient trainer keeps as the old policy's log-probs; a backend that cannot give them raises
    `ModelError` rather than leave them out.
    """

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    logprobs: bool = False

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # normalised values go into the frozen fields
        set_field(self, "max_tokens", _whole_number("max_tokens", self.max_tokens))
        if self.max_tokens < 1:
            raise ConfigError(f"sampling setting max_tokens must be at least 1, got {self.max_tokens}")
        set_field(self, "temperature", _number("temperature", self.temperature))
        if not self.temperature >= 0:  # written so that NaN fails too
            raise ConfigError(f"sampling setting temperature must be at least 0, got {self.temperature}")
        set_field(self, "top_p", _number("top_p", self.top_p))
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"sampling setting top_p must be in (0, 1], got {self.top_p}")
        if self.seed is not None:
            set_field(self, "seed", _whole_number("seed", self.seed))
        if not isinstance(self.logprobs, bool):
            raise ConfigError(f"sampling setting logprobs must be true or false, got {self.logprobs!r}")

    def with_seed(self, seed: int | None) -> SamplingParams:
        """The same settings with another seed (one per sample of the same prompt)."""
        return dataclasses.replace(self, seed=seed)


def _whole_number(name: str, value: object) -> int:
    """`value` as an int (numpy integers included); anything else, a bool too, is a `ConfigError`."""
    if not isinstance(value, bool):
        with contextlib.suppress(TypeError):
            return operator.index(value)  # type: ignore[arg-type]
    raise ConfigError(f"sampling setting {name} must be a whole number, got {value!r}")


def _number(name: str, value: object) -> float:
    """`value` as a float (ints and numpy numbers included); anything else is a `ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"sampling setting {name} must be a number, got {value!r}")
    return float(value)


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int
    # Visual tokens the model actually consumed: exact where the backend can count them, else None.
    image_tokens: int | None = None


@dataclass
class Completion:
    """One model answer. Optional fields stay None where a backend cannot know them."""

    text: str
    usage: Usage
    seconds: float  # wall time of the whole call
    prefill_seconds: float | None = None
    decode_seconds: float | None = None
    # OCR reader only: what it read from each image, in message order, and the time spent reading.
    ocr_text: list[str] | None = None
    ocr_seconds: float | None = None
    # OCR reader only: tokens cut from the end of `ocr_text` so the prompt fit the text model's context
    # (0 when all of it was given to the model).
    ocr_truncated_tokens: int | None = None
    # Only when asked for (`SamplingParams.logprobs`): the token ids the model was given (None where a
    # server does not report them) and those it generated (an end-of-turn token it stopped at
    # included), and for each generated id its log-probability under the model's own distribution:
    # the log-softmax of its logits, before temperature and top-p reshape them for sampling.
    prompt_ids: list[int] | None = None
    completion_ids: list[int] | None = None
    logprobs: list[float] | None = None


class ChatModel(ABC):
    """A chat model that answers OpenAI-style messages, possibly with images.

    Images arrive as PIL images already fitted to the visual-token budget; a backend sends or uses them
    at exactly that size. `chat` is a coroutine: CPU-bound backends run generation in a worker thread
    so the event loop keeps serving other questions.
    """

    name: str  # the spec it was loaded from (see `load_model`), else a backend-made label
    # Agent settings (AgentSettings field names) that suit this model better than the paper's, e.g.
    # short memories for a tiny model; the agent takes them where the user set nothing.
    suggested_settings: Mapping[str, int] = MappingProxyType({})
    # Prompt templates that suit this model better than the standard ones: standard template name ->
    # the variant to send instead (e.g. `memocr.prompts.BRIEF_PROMPTS` for small models).
    suggested_prompts: Mapping[str, PromptTemplate] = MappingProxyType({})
    # A system message that suits this model (e.g. small embedded models told to use only the given
    # text); the agent sends it before every turn and records its id in the trace. None: no system message.
    system_prompt: PromptTemplate | None = None
    # The render profile (a `memocr.render.PROFILES` name) that suits this model's reading; the agent
    # takes it where the user chose none. None: the default profile.
    suggested_profile: str | None = None
    # Whether an image's visual tokens take room in the context (a VLM); readers that turn images into
    # text fit that text to the context themselves.
    image_tokens_in_context: bool = True

    @abstractmethod
    async def chat(self, messages: list[Message], sampling: SamplingParams) -> Completion:
        """Answer `messages` as `sampling` says (greedy when its temperature is 0); with
        `sampling.logprobs`, fill the completion's token ids and log-probs or raise `ModelError`
        (`logprobs_unavailable`)."""

    @property
    @abstractmethod
    def tokenizer(self) -> Tokenizer:
        """The tokenizer of the model that drafts the memory."""

    @property
    def context_length(self) -> int | None:
        """Tokens one request may hold, prompt and completion together; None where it is unknown.

        The agent checks its settings against this before the first turn, so a request that cannot
        fit fails at once (`ContextLengthError`) instead of being cut or shifted by the runtime."""
        return None

    def count_prompt_tokens(self, messages: list[Message]) -> int | None:
        """Tokens the prompt of `messages` takes in the context, counted the way the model will count
        them (chat template included); None where that needs a request to the model. Blocking: call it
        from a worker thread."""
        return None

    async def aclose(self) -> None:  # noqa: B027 (an optional hook: not every backend holds resources)
        """Release connections, servers or weights. The default has nothing to release."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def context_overflow(
    model: str, *, prompt_tokens: int | None, max_tokens: int, context_length: int | None, detail: str = ""
) -> ContextLengthError:
    """The error for a request whose prompt plus `max_tokens` does not fit the context; numbers a
    backend could not learn are left out of the message."""
    prompt = f"the prompt ({prompt_tokens} tokens)" if prompt_tokens is not None else "the prompt"
    total = f" = {prompt_tokens + max_tokens} tokens" if prompt_tokens is not None else ""
    context = f"the context of {context_length} tokens" if context_length is not None else "the context"
    return ContextLengthError(
        f"{model}: {prompt} plus max_tokens ({max_tokens}){total} does not fit {context}; "
        f"shorten the input (smaller chunks or memory) or lower max_tokens{detail}"
    )


def logprobs_unavailable(backend: str, detail: str) -> ModelError:
    """The error of a backend asked for token log-probabilities (`SamplingParams.logprobs`) that it
    cannot give; `detail` says why and what to use instead."""
    return ModelError(f"{backend}: token log-probabilities are not available {detail}")


def content_parts(message: Message) -> list[dict[str, Any]]:
    """A message's content as a list of parts (a plain string becomes one text part)."""
    content = message["content"]
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)


def message_images(messages: list[Message]) -> list[Image.Image]:
    """Every image in `messages`, in order."""
    return [part["image"] for m in messages for part in content_parts(m) if part["type"] == "image"]


def text_only(messages: list[Message], backend: str) -> list[dict[str, str]]:
    """Messages with string content, for backends that cannot see images.

    Text parts are concatenated; an image part is an error naming the way to read images with a text
    model (the OCR reader), rather than being dropped silently.
    """
    flat = []
    for message in messages:
        texts = []
        for part in content_parts(message):
            if part["type"] != "text":
                raise ModelError(
                    f"{backend} is a text-only model and got an {part['type']!r} part; "
                    "wrap it in memocr.models.OcrReader to answer from images"
                )
            texts.append(part["text"])
        flat.append({"role": message["role"], "content": "".join(texts)})
    return flat


# What a model that wraps another (a recorder, a batcher) shows the agent as its own.
WRAPPED_TRAITS = (
    "name",
    "suggested_settings",
    "suggested_prompts",
    "suggested_profile",
    "system_prompt",
    "image_tokens_in_context",
)


def take_traits(wrapper: ChatModel, wrapped: ChatModel) -> None:
    """Give `wrapper` the name, suggestions and image handling of the model it wraps."""
    for trait in WRAPPED_TRAITS:
        setattr(wrapper, trait, getattr(wrapped, trait))
