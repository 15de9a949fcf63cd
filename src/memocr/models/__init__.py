"""Model backends behind one `ChatModel` interface, named by one spec string (see `load_model`).

Importing this package is cheap: torch, transformers, xllamacpp and rapidocr are imported only by the
backend that needs them, when it is built.
"""

from memocr.errors import ContextLengthError, ModelError, ModelSpecError, ModelUnavailableError
from memocr.models.base import ChatModel, Completion, Message, SamplingParams, Tokenizer, Usage
from memocr.models.ocr import OcrReader
from memocr.models.spec import SPEC_FORMS, ModelSpec, load_model, parse_spec, redact_spec

__all__ = [
    "SPEC_FORMS",
    "ChatModel",
    "Completion",
    "ContextLengthError",
    "Message",
    "ModelError",
    "ModelSpec",
    "ModelSpecError",
    "ModelUnavailableError",
    "OcrReader",
    "SamplingParams",
    "Tokenizer",
    "Usage",
    "load_model",
    "parse_spec",
    "redact_spec",
]
