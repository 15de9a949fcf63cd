"""One typed dataclass per command: defaults, then a YAML file (``--config``), then the flags given.

Every field of a config dataclass becomes a ``--field-name`` flag whose help text comes from
``field(metadata={"help": ...})``. ``list`` fields are repeatable flags that also take
comma-separated values (``--budget 64,256``), ``Literal`` fields get
choices, ``bool`` fields get ``--name`` / ``--no-name``.

Values are checked in one place, `check_fields`, whatever they come from: a config dataclass calls it
from ``__post_init__``, so flags, a YAML file and Python code get the same type and choice checks and
the same messages. Fields marked ``metadata={"path": True}`` are file paths: a relative path written
in a YAML file is taken relative to that file, not to the directory the command runs in.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from memocr.errors import ConfigError

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
        annotation, _ = _unwrap_optional(hints[field.name])
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
            if fields[name].metadata.get("path"):
                value = _relative_to(value, Path(config_path).parent)
            values[name] = value
    for name in fields:
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    try:
        return cls(**values)
    except ConfigError as error:
        where = f"config file {config_path}: " if config_path is not None else ""
        raise ConfigError(f"{where}{error}") from error


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
            checked = _check(value, hints[field.name])
        except _Mismatch as mismatch:
            raise ConfigError(
                f"setting {field.name} ({_flag(field.name)}) must be {mismatch.expected}, got {value!r}"
            ) from None
        if checked is not value:
            object.__setattr__(config, field.name, checked)  # frozen dataclasses too


class _Mismatch(Exception):
    def __init__(self, expected: str) -> None:
        self.expected = expected


def _check(value: Any, annotation: Any) -> Any:
    annotation, optional = _unwrap_optional(annotation)
    if value is None:
        if optional:
            return None
        raise _Mismatch(_describe(annotation))
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            raise _Mismatch(_describe(annotation))
        return value
    if origin is list:
        (item,) = typing.get_args(annotation)
        items = value if isinstance(value, list | tuple) else [value]
        try:
            return [_check(element, item) for element in items]
        except _Mismatch:
            raise _Mismatch(_describe(annotation)) from None
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
    raise _Mismatch(_describe(annotation))


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


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain data, ready to be written next to the results it produced."""
    return {
        key: str(value) if isinstance(value, Path) else value
        for key, value in dataclasses.asdict(config).items()
    }
