"""One string names a model everywhere (CLI flags, eval configs, the trainer): `load_model(spec)`.

Query parameters in a spec are backend options, so a whole setup fits in one flag, e.g.
`openai://127.0.0.1:8000/v1?model=meituan/MemOCR-7B&max_concurrency=64` or `hf:///models/qwen?device=cuda`.
Keyword options given to `load_model` do the same from Python and win over the query.

A spec may carry credentials (`openai://user:secret@host/v1?model=m`, `...&api_key=sk-...`). The model
uses them, but its `name`, which traces and results record, is the spec without them (`redact_spec`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from memocr.errors import ModelSpecError
from memocr.models.base import ChatModel

SPEC_FORMS = """accepted model specs:
  embedded                           the CPU default: Qwen2.5-Coder-1.5B-Instruct on llama.cpp behind an
                                     OCR reader (options as a query, e.g. embedded?n_threads=1)
  embedded:tiny                      SmolLM2-135M-Instruct the same way: fast, mostly wrong (tests, CI)
  gguf:///abs/path/model.gguf        any GGUF text model on llama.cpp, OCR reader in front for images
  openai://HOST:PORT/v1?model=NAME   an OpenAI-compatible server (vLLM, SGLang, ...) over http
  openai+https://HOST/v1?model=NAME  the same over https (api_key=KEY option, else OPENAI_API_KEY;
                                     user:password@HOST for HTTP basic auth)
  hf:///path/to/model                a local transformers model: Qwen2.5-VL, Qwen2-VL, or a text LM
                                     with the OCR reader in front for images"""


# Option names whose values are credentials; so is any name ending in one of SECRET_SUFFIXES.
SECRET_OPTIONS = frozenset(
    {
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "password",
        "passwd",
        "secret",
        "auth",
        "credentials",
    }
)
SECRET_SUFFIXES = ("_key", "_token", "_secret", "_password")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: which backend, where the model is (path or base URL), and its options."""

    backend: str
    location: str = ""
    options: dict[str, str] = field(default_factory=dict)


def _invalid(spec: str, why: str) -> ModelSpecError:
    return ModelSpecError(f"invalid model spec {redact_spec(spec)!r}: {why}\n{SPEC_FORMS}")


def _is_secret_option(name: str) -> bool:
    name = name.lower()
    return name in SECRET_OPTIONS or name.endswith(SECRET_SUFFIXES)


def redact_spec(spec: str) -> str:
    """`spec` without credentials: the userinfo (`user:secret@`) and secret options (`api_key`, `token`,
    `password`, ...) are removed and everything else is kept as written. Never fails, so it is safe on
    a malformed spec too."""
    spec = str(spec).strip()
    head, _, query = spec.partition("?")
    scheme, separator, rest = head.partition("://")
    if separator:
        authority, slash, path = rest.partition("/")
        head = f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    kept = [
        pair for pair in query.split("&") if pair and not _is_secret_option(unquote_plus(pair.split("=")[0]))
    ]
    return head + ("?" + "&".join(kept) if kept else "")


def parse_spec(spec: str) -> ModelSpec:
    """Split `spec` into backend, location and options, or raise `ModelSpecError`."""
    if not isinstance(spec, str) or not spec.strip():
        raise _invalid(str(spec), "a model spec is a non-empty string")
    spec = spec.strip()
    name, _, query = spec.partition("?")
    family, colon, tier = name.partition(":")
    if family == "embedded" and "://" not in spec:
        from memocr.models.embedded import TIERS

        if colon and tier not in TIERS:
            raise _invalid(spec, f"unknown embedded tier {tier!r}; tiers: {', '.join(TIERS)}")
        return ModelSpec("embedded", tier, options=dict(parse_qsl(query, keep_blank_values=True)))
    if "://" not in spec:
        raise _invalid(spec, "unknown form")
    parts = urlsplit(spec)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    scheme = parts.scheme.lower()
    if scheme in ("gguf", "hf"):
        location = parts.netloc + parts.path
        if not location:
            raise _invalid(spec, f"{scheme}:// needs a path, e.g. {scheme}:///abs/path")
        return ModelSpec(scheme, location, options)
    if scheme in ("openai", "openai+http", "openai+https"):
        if not parts.netloc:
            raise _invalid(spec, "openai:// needs a host, e.g. openai://127.0.0.1:8000/v1?model=NAME")
        if not options.get("model"):
            raise _invalid(spec, "an OpenAI-compatible server needs ?model=NAME (the served model's name)")
        http = "https" if scheme == "openai+https" else "http"
        return ModelSpec("openai", f"{http}://{parts.netloc}{parts.path.rstrip('/') or '/v1'}", options)
    raise _invalid(spec, f"unknown scheme {parts.scheme!r}")


def local_path(spec_or_path: str, *, scheme: str) -> Path:
    """The path in `scheme:///path` (a bare path is taken as is)."""
    if "://" not in spec_or_path:
        return Path(spec_or_path)
    parsed = parse_spec(spec_or_path)
    if parsed.backend != scheme:
        raise _invalid(spec_or_path, f"expected a {scheme}:// spec here")
    return Path(parsed.location)


def load_model(spec: str = "embedded", **options: Any) -> ChatModel:
    """Build the `ChatModel` that `spec` names (see `SPEC_FORMS`). Loading weights happens here;
    servers are only contacted at the first request. The model's `name` is the spec less its
    credentials (`redact_spec`), so traces and results say how to load it again and leak no secret."""
    model = _build(spec, options)
    model.name = redact_spec(spec)
    return model


def _build(spec: str, options: dict[str, Any]) -> ChatModel:
    parsed = parse_spec(spec)
    merged: dict[str, Any] = {**parsed.options, **options}
    if parsed.backend == "openai":
        from memocr.models.openai_compat import OpenAICompat

        model = merged.pop("model", None)
        if not model:
            raise _invalid(spec, "an OpenAI-compatible server needs ?model=NAME (the served model's name)")
        return OpenAICompat(parsed.location, model, **_typed(spec, OpenAICompat, merged))
    if parsed.backend == "hf":
        from memocr.models.hf import HfModel
        from memocr.models.ocr import OcrReader

        hf_model = HfModel(parsed.location, **_typed(spec, HfModel, merged))
        # A text-only model (a policy trained on the OCR'd image memory) reads pictures as it was trained.
        return hf_model if hf_model.is_vision else OcrReader(hf_model)

    if parsed.backend == "embedded":
        from memocr.models.embedded import build_embedded

        return build_embedded(parsed.location, merged, lambda backend, opts: _typed(spec, backend, opts))

    from memocr.models.llamacpp import LlamaCpp
    from memocr.models.ocr import OcrReader

    return OcrReader(LlamaCpp(Path(parsed.location), **_typed(spec, LlamaCpp, merged)))


def _typed(spec: str, backend: type, options: dict[str, Any]) -> dict[str, Any]:
    """Check option names against the backend's keyword parameters and convert query strings to
    the type of each parameter's default."""
    accepted = {
        name: param.default
        for name, param in inspect.signature(backend.__init__).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }
    typed = {}
    for name, value in options.items():
        if name not in accepted:
            raise _invalid(
                spec, f"unknown option {name!r} for {backend.__name__}; options: {', '.join(accepted)}"
            )
        default = accepted[name]
        if isinstance(value, str) and isinstance(default, int | float) and not isinstance(default, bool):
            try:
                value = type(default)(value)
            except ValueError:
                raise _invalid(spec, f"option {name}={value!r} is not a {type(default).__name__}") from None
        typed[name] = value
    return typed
