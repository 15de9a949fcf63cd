"""Local transformers models: Qwen2.5-VL / Qwen2-VL from a directory, or any text-only causal LM.

transformers' `Qwen2_5_VLProcessor` cannot be built without torchvision (its video processor needs
it), so this backend does the processor's work itself: the PIL image processor with min/max pixels
from `memocr.budget.processor_kwargs` (fitted images pass unchanged), the tokenizer, the Qwen2-VL chat
format, and the expansion of each `<|image_pad|>` into one token per 28x28 cell. Counting those
tokens gives the exact visual cost of every answer.

A document stays text: special-token text inside a message (a literal `<|im_end|>` or `<|image_pad|>`)
is encoded as ordinary text, and only the chat format's own markers become control tokens. A prompt
that leaves no room for `max_tokens` in the model's context (`max_position_embeddings`) is a
`ContextLengthError` before anything is generated.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from pathlib import Path
from typing import Any

from memocr.budget import processor_kwargs
from memocr.errors import ModelError, ModelUnavailableError
from memocr.models.base import (
    CPU_LOCK,
    ChatModel,
    Completion,
    Message,
    SamplingParams,
    Usage,
    content_parts,
    context_overflow,
    message_images,
    text_only,
)

VISION_MODEL_CLASSES = {
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen2_vl": "Qwen2VLForConditionalGeneration",
}
IMAGE_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"
QWEN_DEFAULT_SYSTEM = "You are a helpful assistant."


class HfTokenizer:
    """A transformers tokenizer behind the `Tokenizer` protocol (no special tokens added).

    Every call takes the tokenizer's lock: a fast tokenizer is one Rust object whose settings change per
    call (special-token splitting, truncation), and used from several threads at once it can fail with
    "RuntimeError: Already borrowed". The agent tokenizes in worker threads while generation runs.
    """

    def __init__(self, tokenizer: Any):
        self.hf = tokenizer
        self._lock = threading.Lock()

    @classmethod
    def from_path(cls, path: str | Path) -> HfTokenizer:
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(path)))

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` as text: special-token text in it is not turned into control tokens."""
        return self.encode_pieces([(text, False)])

    def encode_pieces(self, pieces: list[tuple[str, bool]]) -> list[int]:
        """Token ids of `pieces` in order; a piece is `(text, is_markup)`, and only markup pieces (the
        chat format's own) may contain control tokens."""
        ids: list[int] = []
        with self._lock:
            for text, is_markup in pieces:
                # verbose=False: long documents are meant to exceed the model's length; chunking handles that.
                ids += self.hf.encode(
                    text, add_special_tokens=False, split_special_tokens=not is_markup, verbose=False
                )
        return ids

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the tokenizer's chat template applied to `messages`, with a generation prompt;
        special-token text inside the messages stays text."""
        with self._lock:
            return self.hf.apply_chat_template(
                messages,
                add_generation_prompt=True,
                tokenize=True,
                sanitize_control_tokens=True,
                return_dict=False,
            )

    def decode(self, ids: list[int], *, skip_special_tokens: bool = False) -> str:
        with self._lock:
            return self.hf.decode(list(ids), skip_special_tokens=skip_special_tokens)


def qwen_vl_pieces(messages: list[Message]) -> list[tuple[str, bool]]:
    """The Qwen2-VL chat format with a generation prompt, as `(text, is_markup)` pieces (see
    `HfTokenizer.encode_pieces`); each image part becomes one placeholder (expanded to its real token
    count later). Adds Qwen's default system prompt like its template."""
    pieces: list[tuple[str, bool]] = []
    if not messages or messages[0]["role"] != "system":
        pieces.append((f"<|im_start|>system\n{QWEN_DEFAULT_SYSTEM}<|im_end|>\n", True))
    for message in messages:
        pieces.append((f"<|im_start|>{message['role']}\n", True))
        for part in content_parts(message):
            pieces.append((IMAGE_PLACEHOLDER, True) if part["type"] == "image" else (part["text"], False))
        pieces.append(("<|im_end|>\n", True))
    pieces.append(("<|im_start|>assistant\n", True))
    return pieces


def expand_image_pads(ids: list[int], image_token_id: int, counts: list[int]) -> list[int]:
    """Replace the i-th image pad token with `counts[i]` copies, as the Qwen processor does."""
    if ids.count(image_token_id) != len(counts):
        raise ModelError(
            f"prompt has {ids.count(image_token_id)} image placeholders for {len(counts)} images"
        )
    remaining = iter(counts)
    expanded: list[int] = []
    for token in ids:
        expanded.extend([token] * next(remaining) if token == image_token_id else [token])
    return expanded


class HfModel(ChatModel):
    """A model loaded with transformers from a local directory; generation runs in a worker thread,
    one request at a time. Greedy when temperature is 0, else sampling with the given temperature and
    top-p (the model's own top-k default is switched off so those two are what apply). Asked for
    log-probs, it returns the ids it fed and generated and the raw log-probs of the generated ones
    (see `_generate`)."""

    def __init__(
        self, path: str | Path, *, device: str = "cpu", dtype: str = "auto", name: str | None = None
    ):
        import transformers

        path = Path(path)
        if not (path / "config.json").is_file():
            raise ModelUnavailableError(f"no transformers model at {path} (expected a config.json there)")
        config = transformers.AutoConfig.from_pretrained(path)
        vision_class = VISION_MODEL_CLASSES.get(config.model_type)
        model_class = (
            getattr(transformers, vision_class) if vision_class else transformers.AutoModelForCausalLM
        )
        self.model = model_class.from_pretrained(path, dtype=dtype).to(device).eval()
        # Qwen2.5-VL keeps the language model's settings in its text config; a text LM's is itself.
        self._context_length: int | None = getattr(config.get_text_config(), "max_position_embeddings", None)
        self.device = device
        self.name = name or f"hf:{path.name}"
        self._tokenizer = HfTokenizer.from_path(path)
        self.is_vision = vision_class is not None
        if self.is_vision:
            from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

            has_config = (path / "preprocessor_config.json").is_file()
            self.image_processor = (
                Qwen2VLImageProcessorPil.from_pretrained(path) if has_config else Qwen2VLImageProcessorPil()
            )
            self.image_token_id: int = config.image_token_id
        self._lock = CPU_LOCK if device == "cpu" else threading.Lock()

    @property
    def tokenizer(self) -> HfTokenizer:
        return self._tokenizer

    @property
    def context_length(self) -> int | None:
        """`max_position_embeddings` of the (text) config: the positions the model was built for."""
        return self._context_length

    def count_prompt_tokens(self, messages: list[Message]) -> int:
        return self._inputs(messages)["input_ids"].shape[1]

    async def chat(self, messages: list[Message], sampling: SamplingParams) -> Completion:
        started = time.perf_counter()
        inputs = await asyncio.to_thread(self._inputs, messages)
        prompt_len = inputs["input_ids"].shape[1]
        if self._context_length is not None and prompt_len + sampling.max_tokens > self._context_length:
            raise context_overflow(
                self.name,
                prompt_tokens=prompt_len,
                max_tokens=sampling.max_tokens,
                context_length=self._context_length,
            )
        new_tokens, logprobs = await asyncio.to_thread(self._generate, inputs, sampling)
        image_tokens = int((inputs["input_ids"] == self.image_token_id).sum()) if self.is_vision else 0
        return Completion(
            text=self._tokenizer.decode(new_tokens, skip_special_tokens=True),
            usage=Usage(
                prompt_tokens=prompt_len, completion_tokens=len(new_tokens), image_tokens=image_tokens
            ),
            seconds=time.perf_counter() - started,
            prompt_ids=inputs["input_ids"][0].tolist() if sampling.logprobs else None,
            completion_ids=new_tokens if sampling.logprobs else None,
            logprobs=logprobs,
        )

    def _inputs(self, messages: list[Message]) -> dict[str, Any]:
        """Token ids (image pads expanded) and image tensors for one request."""
        import torch

        if not self.is_vision:
            if not self._tokenizer.hf.chat_template:
                raise ModelError(f"{self.name}: the tokenizer has no chat template")
            ids = self._tokenizer.encode_chat(text_only(messages, self.name))
            return {"input_ids": torch.tensor([ids], device=self.device)}
        ids = self._tokenizer.encode_pieces(qwen_vl_pieces(messages))
        inputs: dict[str, Any] = {}
        images = message_images(messages)
        counts: list[int] = []
        if images:
            pixels = processor_kwargs(images)
            features = self.image_processor(
                images=[image.convert("RGB") for image in images],
                size={"shortest_edge": pixels["min_pixels"], "longest_edge": pixels["max_pixels"]},
                return_tensors="pt",
            )
            merge = self.image_processor.merge_size**2
            counts = [int(grid.prod()) // merge for grid in features["image_grid_thw"]]
            inputs["pixel_values"] = features["pixel_values"].to(self.device, self.model.dtype)
            inputs["image_grid_thw"] = features["image_grid_thw"].to(self.device)
        ids = expand_image_pads(ids, self.image_token_id, counts)
        inputs["input_ids"] = torch.tensor([ids], device=self.device)
        return inputs

    def _generate(
        self, inputs: dict[str, Any], sampling: SamplingParams
    ) -> tuple[list[int], list[float] | None]:
        """The generated token ids and, with `sampling.logprobs`, the log-probability of each under
        the model's raw distribution: the log-softmax of its logits at that step, before temperature
        and top-p reshape them for sampling. That is the policy's own probability, the one a trainer
        recomputes for the same tokens, so the two compare directly as PPO's old and new log-probs."""
        import torch

        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = sampling.max_tokens
        config.top_k = None
        config.do_sample = sampling.temperature > 0
        config.temperature = sampling.temperature if config.do_sample else None
        config.top_p = sampling.top_p if config.do_sample else None
        if config.pad_token_id is None:
            eos = config.eos_token_id
            config.pad_token_id = eos[0] if isinstance(eos, list) else eos
        config.return_dict_in_generate = True
        config.output_logits = sampling.logprobs
        attention_mask = torch.ones_like(inputs["input_ids"])
        with self._lock, torch.inference_mode():
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            output = self.model.generate(
                **inputs,
                attention_mask=attention_mask,
                generation_config=config,
            )
        new_tokens = output.sequences[0, inputs["input_ids"].shape[1] :]
        if not sampling.logprobs:
            return new_tokens.tolist(), None
        # One row of raw logits per generated token (batch of one, so no padding after an end token).
        logits = torch.stack([step[0] for step in output.logits]).float()
        picked = logits.gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
        return new_tokens.tolist(), (picked - torch.logsumexp(logits, dim=-1)).tolist()
