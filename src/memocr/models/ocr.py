"""OCR in front of a text model: the CPU stand-in for a vision-language model.

No small VLM can be installed offline, so the embedded default reads each memory image with
`rapidocr` (PP-OCRv6 models shipped inside the wheel) and hands the text it read to a text model.
This is NOT MemOCR-7B and does not see layout the way a VLM does. What it shares with a VLM is the
property the method relies on: when the image is shrunk to a smaller visual-token budget, small body
text becomes unreadable first and large bold headings survive longest, so answers degrade the same
way as the budget falls.

The text read from a large image can be longer than the text model's context. Then it is cut from the
end (the last image's text first) by as many tokens as needed for the prompt plus `max_tokens` to fit,
the cut block ends with `OCR_CUT`, and the completion records how many tokens were cut
(`Completion.ocr_truncated_tokens`). The rest of the prompt is never cut: if it does not fit on its
own, the text model raises `ContextLengthError`. Text is cut only where the text model can count its
prompt (`count_prompt_tokens`: llama.cpp, transformers); elsewhere an overflowing prompt is the text
model's own error.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import statistics
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
from PIL import Image

from memocr.models.base import (
    CPU_LOCK,
    ChatModel,
    Completion,
    Message,
    SamplingParams,
    Tokenizer,
    content_parts,
    message_images,
)

OCR_OPEN = "[Text read from the image]"
OCR_CLOSE = "[End of image text]"
OCR_NOTHING = "(no legible text)"
OCR_CUT = "[...]"


# With `OcrReader(reuse_reads=True)`: the text of the last pictures read, by a digest of their pixels.
# OCR is deterministic and costs seconds a picture on a CPU, and in training the same picture comes
# back often: the cloze question is asked about the very picture the standard answer read, and a
# memory small enough to fit several budgets at its own size gives the same picture at each of them.
READ_CACHE_SIZE = 256
_READ: OrderedDict[tuple[tuple[int, ...], bytes], str] = OrderedDict()
_READ_LOCK = threading.Lock()


@functools.cache
def _engine() -> Any:
    """One rapidocr engine per process: importing and loading its ONNX models costs over a second."""
    from rapidocr import RapidOCR

    return RapidOCR(params={"Global.log_level": "error"})  # it warns on every image with no text


def read_image(image: Image.Image) -> str:
    """The text in `image`, one line per visual line, top to bottom and left to right."""
    return _read_timed(image)[0]


def _read_timed(image: Image.Image) -> tuple[str, float]:
    """`read_image` and the seconds spent reading (not waiting for the CPU)."""
    array = np.asarray(image.convert("RGB"))
    with CPU_LOCK:  # the engine uses every core and keeps per-call state
        started = time.perf_counter()
        result = _engine()(array)
        seconds = time.perf_counter() - started
    if result.boxes is None or not result.txts:
        return "", seconds
    return "\n".join(_reading_order(result.boxes, result.txts)), seconds


def _read_reused(image: Image.Image) -> tuple[str, float]:
    """`_read_timed`, or the text of the same pixels read before (in 0 seconds; see `_READ`)."""
    array = np.asarray(image.convert("RGB"))
    key = (array.shape, hashlib.blake2b(array.tobytes(), digest_size=16).digest())
    with _READ_LOCK:
        if key in _READ:
            _READ.move_to_end(key)
            return _READ[key], 0.0
    text, seconds = _read_timed(image)
    with _READ_LOCK:
        _READ[key] = text
        if len(_READ) > READ_CACHE_SIZE:
            _READ.popitem(last=False)
    return text, seconds


def _reading_order(boxes: Any, texts: tuple[str, ...]) -> list[str]:
    """Group detected boxes into lines (vertical centres closer than half a box height), order lines
    top to bottom and boxes within a line left to right."""
    items = []
    for box, text in zip(boxes, texts, strict=True):
        ys = [point[1] for point in box]
        xs = [point[0] for point in box]
        items.append(((min(ys) + max(ys)) / 2, min(xs), max(ys) - min(ys), text))
    items.sort()
    tolerance = statistics.median(height for _, _, height, _ in items) / 2
    lines: list[list[tuple[float, float, float, str]]] = []
    for item in items:
        if lines and item[0] - lines[-1][0][0] <= tolerance:
            lines[-1].append(item)
        else:
            lines.append([item])
    return [" ".join(text for _, _, _, text in sorted(line, key=lambda item: item[1])) for line in lines]


class OcrReader(ChatModel):
    """A `ChatModel` that replaces every image part with the text OCR reads from it, then asks
    `text_model`. A CPU stand-in for a VLM (see the module docstring), not a real one."""

    image_tokens_in_context = False  # the image text is cut to fit the context here (see `_fit`)

    def __init__(self, text_model: ChatModel, *, reuse_reads: bool = False):
        """``reuse_reads``: a picture whose pixels were read before is not read again (its
        ``ocr_seconds`` are then 0); for trainers and benchmarks that show one picture many times."""
        self.text_model = text_model
        self.name = f"ocr+{text_model.name}"
        self.reuse_reads = reuse_reads

    @property
    def tokenizer(self) -> Tokenizer:
        return self.text_model.tokenizer

    @property
    def context_length(self) -> int | None:
        return self.text_model.context_length

    async def chat(self, messages: list[Message], sampling: SamplingParams) -> Completion:
        """The text model's completion for `messages` with images read as text; with
        `sampling.logprobs`, its ids (of the prompt it was given, image text included) and log-probs."""
        started = time.perf_counter()
        read: list[str] = []
        ocr_seconds = 0.0
        for image in message_images(messages):
            text, seconds = await asyncio.to_thread(_read_reused if self.reuse_reads else _read_timed, image)
            read.append(text)
            ocr_seconds += seconds
        text_messages, cut_tokens = await asyncio.to_thread(self._fit, messages, read, sampling.max_tokens)
        completion = await self.text_model.chat(text_messages, sampling)
        if read:
            # No VLM saw the image, so no visual tokens were consumed; the budget lives in the image size.
            completion.usage.image_tokens = None
            completion.ocr_text = read
            completion.ocr_seconds = ocr_seconds
            completion.ocr_truncated_tokens = cut_tokens
        completion.seconds = time.perf_counter() - started
        return completion

    def _fit(self, messages: list[Message], read: list[str], max_tokens: int) -> tuple[list[Message], int]:
        """The text model's messages, with the image text cut from the end until prompt plus
        `max_tokens` fits the context, and the number of tokens cut. Blocking (counts tokens)."""
        fitted = with_image_text(messages, read)
        context = self.text_model.context_length
        if not read or context is None:
            return fitted, 0
        prompt_tokens = self.text_model.count_prompt_tokens(fitted)
        if prompt_tokens is None:
            return fitted, 0
        tokenizer = self.text_model.tokenizer
        read_ids = [tokenizer.encode(text) for text in read]
        total = sum(len(ids) for ids in read_ids)
        cut = 0
        # Text encoded alone and inside the prompt can differ by a token at the seams, and the cut
        # marker costs tokens too, so cut, count the real prompt again and cut the excess until it fits.
        while prompt_tokens + max_tokens > context and cut < total:
            cut = min(total, cut + prompt_tokens + max_tokens - context)
            fitted = with_image_text(messages, _keep_first(tokenizer, read, read_ids, total - cut))
            prompt_tokens = self.text_model.count_prompt_tokens(fitted)
        return fitted, cut

    async def aclose(self) -> None:
        await self.text_model.aclose()


def _keep_first(tokenizer: Tokenizer, texts: list[str], token_lists: list[list[int]], keep: int) -> list[str]:
    """`texts` cut to their first `keep` tokens in all (so later texts lose tokens first); a text that
    lost tokens ends with `OCR_CUT`."""
    kept = []
    for text, ids in zip(texts, token_lists, strict=True):
        if keep >= len(ids):
            kept.append(text)
        else:
            kept.append(f"{tokenizer.decode(ids[:keep])}\n{OCR_CUT}" if keep > 0 else OCR_CUT)
        keep -= len(ids)
    return kept


def with_image_text(messages: list[Message], texts: list[str]) -> list[Message]:
    """`messages` with the i-th image part replaced by a text part holding `texts[i]`."""
    remaining = iter(texts)
    text_messages = []
    for message in messages:
        if isinstance(message["content"], str):
            text_messages.append(message)
            continue
        parts = []
        for part in content_parts(message):
            if part["type"] == "image":
                part = {
                    "type": "text",
                    "text": f"{OCR_OPEN}\n{next(remaining) or OCR_NOTHING}\n{OCR_CLOSE}\n",
                }
            parts.append(part)
        text_messages.append({**message, "content": parts})
    return text_messages
