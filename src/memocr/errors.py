"""The one error tree of memocr: everything the library raises on purpose is a `MemocrError`.

Two kinds matter to a caller: `InputError` (something the user gave cannot be used: a file, a flag,
a budget, a model spec, settings that do not fit the model's context; fix the input and run again)
and the failures of a model or the renderer (`ModelError`, `RenderError`: the input was fine, a
component failed). The CLI turns them into one-line messages and exit codes (`exit_code`), the render
service into HTTP statuses (`http_status`). `InputError` is also a `ValueError` and the failures are
also `RuntimeError`s, so code written against the built-in types keeps working. Every exception
class of memocr is declared here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memocr.trace import Trace


class MemocrError(Exception):
    """Base of every error memocr raises on purpose; the message says what happened and what to do."""

    exit_code = 1
    http_status = 500


class InputError(MemocrError, ValueError):
    """Something the user gave (a file, a setting, a request field) cannot be used."""

    exit_code = 2
    http_status = 422


class ConfigError(InputError):
    """A config file or value cannot be used; the message names the setting and the allowed values."""


class ModelSpecError(InputError):
    """A model spec string (or an option given with it) is not one `load_model` understands."""


class ContextLengthError(InputError):
    """A prompt, with the tokens it may generate, does not fit the model's context window; the
    message says which settings to lower."""


class ModelError(MemocrError, RuntimeError):
    """A model backend failed to produce a completion (server error after retries, runtime failure)."""

    http_status = 502


class ModelUnavailableError(ModelError):
    """The model cannot be used at all (server unreachable, weights missing): a setup the user fixes."""

    exit_code = 2
    http_status = 503


class RenderError(MemocrError, RuntimeError):
    """The browser could not render a memory (after one automatic relaunch and retry)."""


class RenderTimeout(RenderError, TimeoutError):
    """A render took longer than the renderer's per-render timeout."""

    http_status = 504


class RendererUnavailableError(RenderError):
    """Chromium cannot be started (not installed, not executable): a setup the user fixes."""

    exit_code = 2
    http_status = 503


class QuestionFailed(MemocrError):
    """A question stopped part-way. ``trace`` holds everything done before (its ``error`` says where
    and why); ``cause`` is the original error, whose exit code and HTTP status this error carries."""

    def __init__(self, trace: Trace, cause: BaseException) -> None:
        assert trace.error is not None
        where = trace.error.stage
        if trace.error.chunk_index is not None:
            where += f" chunk {trace.error.chunk_index + 1} of {trace.chunks_total or '?'}"
        if trace.error.budget is not None:
            where += f" at budget {trace.error.budget}"
        super().__init__(f"{where} failed: {cause}")
        self.trace = trace
        self.cause = cause
        self.exit_code = getattr(cause, "exit_code", 1)
        self.http_status = getattr(cause, "http_status", 500)


class WorkSaved(MemocrError):
    """A failure after which the work finished before it was saved: the failure's message and exit
    code, then where the finished work is."""

    def __init__(self, failed: MemocrError, where: str) -> None:
        super().__init__(f"{failed}\n{where}")
        self.exit_code = failed.exit_code


class TrainingError(MemocrError, RuntimeError):
    """A training step or rollout cannot go on (no turn left to train on, calls that do not add up)."""


class RequestRefused(MemocrError):
    """The render service will not serve a request (malformed, unauthorised, too large, too many);
    the client gets ``http_status``, ``headers`` and this message as JSON ``{"detail": ...}``."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.http_status, self.detail, self.headers = status, detail, headers or {}
