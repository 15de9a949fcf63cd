"""One typed dataclass per command: defaults, then a YAML file (``--config``), then the flags given.

Every field of a config dataclass becomes a ``--field-name`` flag whose help text comes from
``field(metadata={"help": ...})``. ``list`` fields are repeatable flags, ``Literal`` fields get
choices, ``bool`` fields get ``--name`` / ``--no-name``.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from memocr.errors import ConfigError

T = TypeVar("T")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def add_config_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--config FILE.yaml`` and one flag per field of the dataclass ``cls``."""
    parser.add_argument("--config", type=Path, metavar="FILE.yaml", help="read settings from a YAML file")
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        annotation = _unwrap_optional(hints[field.name])
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
            kwargs.update(action="append", type=item, metavar=field.name.upper())
        elif typing.get_origin(annotation) is typing.Literal:
            choices = typing.get_args(annotation)
            kwargs.update(choices=choices, type=type(choices[0]))
        else:
            kwargs.update(type=annotation, metavar=field.name.upper())
        parser.add_argument(_flag(field.name), **kwargs)


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
    names = {field.name for field in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    config_path = getattr(args, "config", None)
    if config_path is not None:
        from_file = {key.replace("-", "_"): value for key, value in load_yaml(config_path).items()}
        unknown = sorted(set(from_file) - names)
        if unknown:
            raise ConfigError(
                f"config file {config_path}: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names))}"
            )
        values.update(from_file)
    for name in names:
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(str(error)) from error


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain data, ready to be written next to the results it produced."""
    return dataclasses.asdict(config)
