"""Reading and writing `QARecord` files: JSON lines, a JSON list, or MemAgent's Parquet schema.

The format follows the file's suffix: ``.jsonl`` (one record per line: ours), ``.json`` (one list of
objects: the released ``eval_hotpotqa_50.json`` files) and ``.parquet`` (MemAgent's training and
RULER-HotpotQA schema, see `memocr.data.parquet`). Every file is written to a temporary file beside
its destination and moved into place when complete, so a reader never sees half a file. A record
whose context is too long to hold twice can be written piece by piece (`RecordWriter.write_pieces`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from memocr import store
from memocr.data.record import QARecord
from memocr.errors import InputError

FORMATS = {".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}


def file_format(path: str | os.PathLike[str]) -> str:
    """``"jsonl"``, ``"json"`` or ``"parquet"``, from the suffix of ``path``."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"{path}: unknown record file type {suffix or '(none)'!r}; use .jsonl, .json or .parquet"
        )
    return FORMATS[suffix]


def _with_dataset(data: Any, dataset: str | None) -> Any:
    if dataset and isinstance(data, dict) and not data.get("dataset"):
        return {**data, "dataset": dataset}
    return data


def iter_records(path: str | os.PathLike[str], dataset: str | None = None) -> Iterator[QARecord]:
    """Records of ``path`` one at a time (JSONL is read line by line; the other formats are streamed
    where their libraries allow). ``dataset`` names records whose file does not (released files);
    without it they take the file's stem (``my_set.jsonl``: ``my_set``, ids ``my_set-<N>-<index>``)."""
    path = Path(path)
    dataset = dataset or path.stem
    kind = file_format(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if kind == "jsonl":
        yield from _iter_jsonl(path, dataset)
    elif kind == "json":
        for number, data in enumerate(_load_json_list(path), start=1):
            yield QARecord.from_dict(_with_dataset(data, dataset), where=f"{path} row {number}")
    else:
        from memocr.data.parquet import iter_parquet

        yield from iter_parquet(path, dataset)


def load_records(path: str | os.PathLike[str], dataset: str | None = None) -> list[QARecord]:
    """Every record of a ``.jsonl``, ``.json`` or ``.parquet`` file; an `InputError` names the file,
    row and field of anything unusable."""
    return list(iter_records(path, dataset))


def _iter_jsonl(path: Path, dataset: str | None) -> Iterator[QARecord]:
    for number, data in store.iter_json_lines(path, torn_tail=False):
        yield QARecord.from_dict(_with_dataset(data, dataset), where=f"{path} line {number}")


def _load_json_list(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text; convert the file to UTF-8") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        cut = (
            " (the file ends early: it was not written completely)" if error.pos >= len(text.rstrip()) else ""
        )
        raise InputError(
            f"{path} line {error.lineno}: not valid JSON ({error.msg} at column {error.colno}){cut}"
        ) from error
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of records, got a {type(data).__name__}")
    return data


def write_records(path: str | os.PathLike[str], records: Iterable[QARecord]) -> int:
    """Write ``records`` to ``path`` (format from its suffix) atomically; returns how many."""
    with RecordWriter(path) as writer:
        for record in records:
            writer.write(record)
        return writer.count


class RecordWriter:
    """Writes records one at a time to a temporary file and moves it to ``path`` on a clean exit.

    If the ``with`` block raises, the temporary file is removed and ``path`` is left as it was.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.format = file_format(self.path)
        self.count = 0
        self._temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._handle: IO[str] | None = None
        self._parquet: Any = None

    def __enter__(self) -> RecordWriter:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.format == "parquet":
                from memocr.data.parquet import ParquetSink

                self._parquet = ParquetSink(self._temp)
            else:
                self._handle = self._temp.open("w", encoding="utf-8")
                if self.format == "json":
                    self._handle.write("[")
        except OSError as error:
            raise InputError(f"cannot write {self.path}: {error.strerror or error}") from error
        return self

    def write(self, record: QARecord) -> None:
        self.write_pieces(record, [record.context])

    def write_pieces(self, record: QARecord, pieces: Iterable[str]) -> None:
        """Write ``record`` with its context made of ``pieces`` (``record.context`` is ignored), so
        JSON files never hold more than one piece of the context in memory at once."""
        if self._parquet is not None:
            self._parquet.write(record, "".join(pieces))
        else:
            assert self._handle is not None, "use RecordWriter in a with block"
            if self.format == "json":
                self._handle.write(",\n" if self.count else "\n")
            _write_json_object(self._handle, record, pieces)
            if self.format == "jsonl":
                self._handle.write("\n")
        self.count += 1

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        complete = False
        try:
            if self._parquet is not None:
                self._parquet.close()
            if self._handle is not None:
                if kind is None and self.format == "json":
                    self._handle.write("\n]\n")
                self._handle.flush()
                os.fsync(self._handle.fileno())
                self._handle.close()
            complete = kind is None
        finally:
            if self._handle is not None and not self._handle.closed:
                self._handle.close()
            if complete:
                os.replace(self._temp, self.path)
            else:
                self._temp.unlink(missing_ok=True)


def _write_json_object(handle: IO[str], record: QARecord, pieces: Iterable[str]) -> None:
    fields = record.to_dict()
    del fields["context"]
    head = json.dumps(fields, ensure_ascii=False)
    handle.write(head[:-1] + ', "context": "')
    for piece in pieces:
        handle.write(json.dumps(piece, ensure_ascii=False)[1:-1])
    handle.write('"}')
