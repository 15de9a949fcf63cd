"""One typed dataclass per command: defaults, then a YAML file (``--config``), then the flags given.

Every field of a config dataclass becomes a ``--field-name`` flag whose help text comes from
``field(metadata={"help": ...})``. ``list`` fields are repeatable flags that also take
comma-separated values (``--budget 64,256``), ``Literal`` fields and fields whose metadata names a
registry (``"choices": MODES``: the registry's keys, as it stands when the flags are made) get
choices, ``bool`` fields get ``--name`` / ``--no-name``. A subclass shares its base's settings, and
`with_default` redeclares one of them with another default.

Values are checked in one place, `check_fields`, whatever they come from: a config dataclass calls it
from ``__post_init__``, so flags, a YAML file and Python code get the same type and choice checks and
the same messages. Fields marked ``metadata={"path": True}`` are file paths: a relative path written
in a YAML file is taken relative to that file, not to the directory the command runs in. Fields
marked ``"output": "dir"`` (or ``"file"``) are paths too, where a command writes: `config_from_args`
refuses one it could not write before any work starts. Fields marked ``"spec": True`` are model specs, written
without their credentials (`to_dict`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from memocr.errors import ConfigError, InputError

T = TypeVar("T")
STDIN = "-"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """``(inner type, whether None is allowed)``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return inner[0], len(inner) < len(args)
    return annotation, False


def add_config_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--config FILE.yaml`` and one flag per field of the dataclass ``cls``."""
    parser.add_argument("--config", type=Path, metavar="FILE.yaml", help="read settings from a YAML file")
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        annotation, _ = _unwrap_optional(_annotation(field, hints))
        help_text = field.metadata.get("help", "")
        default = _field_default(field)
        if default is not None and default != [] and annotation is not bool:
            help_text = f"{help_text} (default: {default})".strip()
        # Flags default to None so that config_from_args can tell "given" from "not given".
        kwargs: dict[str, Any] = {"dest": field.name, "default": None, "help": help_text}
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(annotation) is list:
            (item,) = typing.get_args(annotation)
            if typing.get_origin(item) is typing.Literal:
                item = type(typing.get_args(item)[0])
            kwargs.update(action="extend", type=_comma_separated(item), metavar=field.name.upper())
        elif typing.get_origin(annotation) is typing.Literal:
            choices = typing.get_args(annotation)
            kwargs.update(choices=choices, type=type(choices[0]))
        else:
            kwargs.update(type=annotation, metavar=field.name.upper())
        parser.add_argument(_flag(field.name), **kwargs)


def _annotation(field: dataclasses.Field, hints: dict[str, Any]) -> Any:
    """The field's type, with the keys of the registry its metadata names (``choices``) as a Literal."""
    choices = field.metadata.get("choices")
    if choices is None:
        return hints[field.name]
    literal = typing.Literal[tuple(choices)]  # type: ignore[valid-type]
    if typing.get_origin(hints[field.name]) is list:
        return list[literal]  # type: ignore[valid-type]
    return literal | None if _unwrap_optional(hints[field.name])[1] else literal


def with_default(cls: type, name: str, default: Any) -> Any:
    """The setting ``name`` of the dataclass ``cls`` (help, choices) with another default, for a
    subclass that redeclares it: ``chunk_tokens: int = with_default(ReadSettings, "chunk_tokens", 5000)``."""
    (base,) = [field for field in dataclasses.fields(cls) if field.name == name]
    return dataclasses.field(default=default, metadata=base.metadata)


def _comma_separated(item: type) -> Any:
    """A list flag takes one value or several separated by commas; repeating the flag adds more."""

    def parse(text: str) -> list[Any]:
        return [item(part.strip()) for part in text.split(",") if part.strip()]

    parse.__name__ = getattr(item, "__name__", "value")  # argparse names the type in its errors
    return parse


def _field_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of setting: value")
    return data


def config_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """Build ``cls`` from its defaults, then ``args.config`` (YAML), then the flags that were given."""
    fields = {field.name: field for field in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    config_path = getattr(args, "config", None)
    if config_path is not None:
        from_file = {str(key).replace("-", "_"): value for key, value in load_yaml(config_path).items()}
        unknown = sorted(set(from_file) - set(fields))
        if unknown:
            raise ConfigError(
                f"config file {config_path}: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(fields))}"
            )
        for name, value in from_file.items():
            if fields[name].metadata.get("path") or fields[name].metadata.get("output"):
                value = _relative_to(value, Path(config_path).parent)
            values[name] = value
    for name in fields:
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    try:
        config = cls(**values)
    except ConfigError as error:
        where = f"config file {config_path}: " if config_path is not None else ""
        raise ConfigError(f"{where}{error}") from error
    for name, field in fields.items():
        if field.metadata.get("output") and getattr(config, name) is not None:
            check_writable(getattr(config, name), name, folder=field.metadata["output"] == "dir")
    return config


def check_writable(path: str | Path, name: str, *, folder: bool = True) -> None:
    """Raise a `ConfigError` unless the setting ``name`` can be written at ``path`` (a folder, or a file
    when ``folder`` is False): ``path`` is not the other kind, and the nearest part of it that exists
    is a writable folder (the file itself when it exists)."""
    path = Path(path)
    where, kinds = f"setting {name} ({_flag(name)})", ("file", "folder")
    if path.exists() and path.is_dir() != folder:
        raise ConfigError(f"{where}: {path} is a {kinds[not folder]}, not a {kinds[folder]}")
    existing = next((part for part in [path, *path.parents] if part.exists()), Path("."))
    if existing != path and not existing.is_dir():
        raise ConfigError(f"{where}: cannot create {path}: {existing} is a file")
    if not os.access(existing, os.W_OK):
        raise ConfigError(f"{where}: {existing} is not writable")


def read_input(source: str, what: str, how: str) -> str:
    """The UTF-8 text, not blank, of the file ``source`` names (standard input for ``-``); ``what``
    names it in errors and ``how`` says how to give it."""
    if not source:
        raise InputError(f"no {what} given: {how} (or - to read standard input)")
    try:
        raw = sys.stdin.buffer.read() if source == STDIN else Path(source).read_bytes()
        text = raw.decode("utf-8")
    except OSError as error:
        raise InputError(f"cannot read {what} {source}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        where = f"{what} {source} is not UTF-8 text (byte {error.start} is invalid)"
        raise InputError(f"{where}; convert it to UTF-8 first") from error
    if not text.strip():
        raise InputError(
            f"{what} {'standard input' if source == STDIN else source} is empty (only whitespace)"
        )
    return text


def _relative_to(value: Any, base: Path) -> Any:
    if isinstance(value, str | Path) and str(value) not in ("", STDIN) and not Path(value).is_absolute():
        return os.path.normpath(base / value)
    return value


def check_fields(config: Any) -> None:
    """Check every field of the dataclass ``config`` against its type, in place.

    Lossless conversions are made (an int for a float, a string for a ``Path``, a single value for a
    list); anything else raises a `ConfigError` naming the setting, its flag, what it must be and
    what it got.
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        try:
            checked = _check(value, _annotation(field, hints))
        except ConfigError as expected:
            raise ConfigError(
                f"setting {field.name} ({_flag(field.name)}) must be {expected}, got {value!r}"
            ) from None
        if checked is not value:
            object.__setattr__(config, field.name, checked)  # frozen dataclasses too


def _check(value: Any, annotation: Any) -> Any:
    """``value`` as ``annotation`` says, or a `ConfigError` whose message is what was expected."""
    annotation, optional = _unwrap_optional(annotation)
    if value is None:
        if optional:
            return None
        raise ConfigError(_describe(annotation))
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            raise ConfigError(_describe(annotation))
        return value
    if origin is list:
        (item,) = typing.get_args(annotation)
        items = value if isinstance(value, list | tuple) else [value]
        try:
            return [_check(element, item) for element in items]
        except ConfigError:
            raise ConfigError(_describe(annotation)) from None
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif annotation is Path:
        if isinstance(value, str | Path) and str(value):
            return Path(value)
    elif isinstance(value, annotation):
        return value
    raise ConfigError(_describe(annotation))


def _describe(annotation: Any) -> str:
    annotation, _ = _unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation)
        if typing.get_origin(item) is typing.Literal:
            return "a list of values from " + ", ".join(repr(choice) for choice in typing.get_args(item))
        return f"a list of {_describe(item).removeprefix('a ').removeprefix('an ')}s"
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", Path: "a path"}
    return names.get(annotation, f"a {getattr(annotation, '__name__', annotation)}")


def at_least(config: Any, minimum: float, *names: str) -> None:
    """Raise a `ConfigError` for the first of ``names`` whose value (when set; each item of a list) is
    below ``minimum``."""
    for name in names:
        value = getattr(config, name)
        for item in value if isinstance(value, list) else [value]:
            if item is not None and item < minimum:
                raise ConfigError(f"setting {name} ({_flag(name)}) must be at least {minimum:g}, got {item}")


def write_config(config: Any, path: Path) -> None:
    """Write ``config`` as YAML (`to_dict`) at ``path``: next to the results it produced."""
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain data, ready to be written next to the results it produced: paths as strings,
    model specs without their credentials (`without_secrets`)."""
    data = dataclasses.asdict(config)
    return without_secrets(type(config), {k: str(v) if isinstance(v, Path) else v for k, v in data.items()})


def without_secrets(cls: type, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` of the dataclass ``cls`` (a stored config too) with every model spec (the fields
    marked ``"spec"``) less its credentials (`memocr.models.redact_spec`)."""
    specs = {field.name for field in dataclasses.fields(cls) if field.metadata.get("spec")}
    if not specs & set(settings):
        return settings
    from memocr.models.spec import redact_spec

    return {k: redact_spec(v) if k in specs and isinstance(v, str) else v for k, v in settings.items()}
