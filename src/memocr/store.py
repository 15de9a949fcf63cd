"""The only code that reads and writes JSON-lines files (traces, drafts, results, oracle answers,
training metrics).

A record is a dataclass (written with its ``to_dict()`` when it has one, else field by field) or a
plain dict. Appends are flushed and fsynced before they return, so a record a caller has seen written
survives a crash. One rule for damage, the same for every file: a last line without its newline that
does not parse is a write cut short by a killed process; it is dropped (and cut off before the next
append). Any other line that is not a record of the expected type is an `InputError` naming the file
and the line: nothing is skipped silently, and a good row is never dropped.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from memocr.errors import InputError

T = TypeVar("T")


def to_plain(record: Any) -> Any:
    """A record as JSON-ready data."""
    if hasattr(record, "to_dict"):
        return record.to_dict()
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    return record


def _line(record: Any) -> str:
    return json.dumps(to_plain(record), ensure_ascii=False) + "\n"


def append(path: str | Path, records: Iterable[Any], *, durable: bool = True) -> None:
    """Append records, one JSON line each, after mending a torn tail; fsync once unless ``durable``
    is False (for files rewritten from scratch by their own writer)."""
    path = Path(path)
    text = "".join(_line(record) for record in records)
    if not text:
        return
    mend_tail(path)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        if durable:
            os.fsync(stream.fileno())


def rewrite(path: str | Path, records: Iterable[Any]) -> None:
    """Replace the file with ``records`` atomically (a temporary file fsynced, then renamed)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as stream:
        stream.writelines(_line(record) for record in records)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)


def mend_tail(path: str | Path) -> bool:
    """Make the file end on a line boundary before an append: a last line without its newline is
    kept (a newline added) when it parses, cut when it does not. True when a torn line was cut."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with path.open("rb+") as stream:
        stream.seek(-1, os.SEEK_END)
        if stream.read(1) == b"\n":
            return False
        data = path.read_bytes()
        start = data.rfind(b"\n") + 1
        if _parses(data[start:]):
            stream.seek(0, os.SEEK_END)
            stream.write(b"\n")
            return False
        stream.truncate(start)
    return True


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def read(path: str | Path, cls: type[T] | None = None) -> list[T]:
    """Every record of the file in order (dicts when ``cls`` is None); a missing file has none."""
    path = Path(path)
    return list(iter_records(path, cls)) if path.is_file() else []


def iter_records(path: str | Path, cls: type[T] | None = None) -> Iterator[T]:
    """The file's records one at a time, as ``cls`` (a dataclass, or one with ``from_dict``)."""
    for number, data in iter_json_lines(path):
        try:
            yield _record(data, cls)
        except (ValueError, TypeError, KeyError) as error:
            what = cls.__name__ if cls is not None else "JSON object"
            raise InputError(
                f"{path} line {number}: not a {what} ({error}); fix or delete that line and run again"
            ) from None


def iter_json_lines(path: str | Path, *, torn_tail: bool = True) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` of each non-blank line, streamed. A last line cut short is
    dropped when ``torn_tail`` (files this package appends to) and an error otherwise (files a user
    gives, which are written whole)."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from error
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise InputError(f"{path} line {number}: not UTF-8 text; convert the file to UTF-8") from None
            except json.JSONDecodeError as error:
                if not raw.endswith(b"\n"):  # only the last line can lack its newline
                    if torn_tail:
                        return
                    raise InputError(
                        f"{path} line {number}: the last record is cut short (the file was not written "
                        "completely); write it again, or delete the last line"
                    ) from None
                raise InputError(
                    f"{path} line {number}: not valid JSON ({error.msg} at column {error.colno}); "
                    "each line must hold one JSON object"
                ) from None


def _record(data: Any, cls: type | None) -> Any:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if cls is None:
        return data
    if hasattr(cls, "from_dict"):
        return cls.from_dict(data)
    fields = dataclasses.fields(cls)
    unset = dataclasses.MISSING
    required = {f.name for f in fields if f.default is unset and f.default_factory is unset}
    missing = required - data.keys()
    if missing:
        raise ValueError(f"missing {', '.join(sorted(missing))}")
    names = {f.name for f in fields}
    return cls(**{key: value for key, value in data.items() if key in names})


def read_latest(path: str | Path, cls: type[T]) -> list[T]:
    """The records of ``cls`` (which has a ``key`` property), the last one of each key, in the order
    keys first appeared."""
    latest: dict[Any, T] = {}
    for record in read(path, cls):
        latest[record.key] = record  # type: ignore[attr-defined]
    return list(latest.values())
