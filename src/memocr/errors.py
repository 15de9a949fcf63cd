"""The one error tree of memocr: everything the library raises on purpose is a `MemocrError`.

Two kinds matter to a caller: `InputError` (something the user gave cannot be used: a file, a flag,
a budget, a model spec, settings that do not fit the model's context; fix the input and run again)
and the failures of a model or the renderer (`ModelError`, `RenderError`: the input was fine, a
component failed). The CLI turns them into one-line messages and exit codes (`exit_code`), the render
service into HTTP statuses (`http_status`). `InputError` is also a `ValueError` and the failures are
also `RuntimeError`s, so code written against the built-in types keeps working.
"""

from __future__ import annotations


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
