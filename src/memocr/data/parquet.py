"""MemAgent's Parquet schema (``hotpotqa_train_32k.parquet``, ``hotpotqa_dev.parquet``), read and written.

One row per question::

    data_source   "hotpotqa"                                  (our QARecord.dataset)
    prompt        [{"role": "user", "content": question}]
    context       the long document
    ability       "memory"
    reward_model  {"style": "rule", "ground_truth": [answers]}
    extra_info    {"index", "question", "num_docs"}  + ours: "id", "supporting_facts"

MemAgent's trainer reads only the fields it names, so the two extra keys of ``extra_info`` do not
disturb it; files without them read back with the usual defaults. `pyarrow` (the ``parquet`` extra)
is imported only when a Parquet file is read or written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from memocr.data.record import QARecord
from memocr.errors import InputError

# Rows are buffered up to this many context characters before a row group is written.
_ROW_GROUP_CHARS = 8_000_000


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise InputError(
            "Parquet files need pyarrow, which is not installed: pip install 'memocr[parquet]' "
            "(or use a .jsonl or .json file)"
        ) from error
    return pyarrow, pyarrow.parquet


def schema() -> Any:
    pa, _ = _pyarrow()
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("context", pa.string()),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.list_(pa.string()))])),
            (
                "extra_info",
                pa.struct(
                    [
                        ("index", pa.int64()),
                        ("question", pa.string()),
                        ("num_docs", pa.int64()),
                        ("id", pa.string()),
                        ("supporting_facts", pa.list_(pa.string())),
                    ]
                ),
            ),
        ]
    )


def to_row(record: QARecord, context: str | None = None) -> dict[str, Any]:
    """The MemAgent row of ``record`` (``context`` replaces ``record.context`` when given)."""
    return {
        "data_source": record.dataset,
        "prompt": [{"role": "user", "content": record.input}],
        "context": record.context if context is None else context,
        "ability": "memory",
        "reward_model": {"style": "rule", "ground_truth": list(record.answers)},
        "extra_info": {
            "index": record.index,
            "question": record.input,
            "num_docs": record.num_docs,
            "id": record.id,
            "supporting_facts": list(record.supporting_facts),
        },
    }


def from_row(row: dict[str, Any], *, where: str, dataset: str | None = None) -> QARecord:
    """A `QARecord` from one MemAgent row; an `InputError` names ``where`` and the field."""
    for name in ("prompt", "context", "reward_model"):
        if row.get(name) is None:
            raise InputError(f"{where}: missing field {name!r} (MemAgent schema)")
    prompt = row["prompt"]
    if not isinstance(prompt, list) or not prompt or not isinstance(prompt[0], dict):
        raise InputError(f"{where}: field 'prompt' must be a list of {{role, content}} messages")
    reward = row["reward_model"]
    if not isinstance(reward, dict) or "ground_truth" not in reward:
        raise InputError(f"{where}: field 'reward_model' must hold 'ground_truth' (the answers)")
    extra = row.get("extra_info") or {}
    answers = reward["ground_truth"]
    data: dict[str, Any] = {
        "input": prompt[0].get("content"),
        "context": row["context"],
        "answers": list(answers) if isinstance(answers, list | tuple) else answers,
        "dataset": row.get("data_source") or dataset,
        "index": extra.get("index", 0),
        "num_docs": extra.get("num_docs", 0),
    }
    if extra.get("id"):
        data["id"] = extra["id"]
    if extra.get("supporting_facts"):
        data["supporting_facts"] = list(extra["supporting_facts"])
    return QARecord.from_dict(data, where=where)


def iter_parquet(path: Path, dataset: str | None = None) -> Iterator[QARecord]:
    """Records of a MemAgent Parquet file, one row group at a time."""
    _, pq = _pyarrow()
    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises ArrowInvalid/OSError for torn or foreign files
        raise InputError(
            f"{path}: not a readable Parquet file ({error}); it may be cut short: write it again"
        ) from error
    missing = [
        name for name in ("prompt", "context", "reward_model") if name not in parquet.schema_arrow.names
    ]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected MemAgent's schema")
    number = 0
    try:
        batches = parquet.iter_batches(batch_size=64)
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield from_row(row, where=f"{path} row {number}", dataset=dataset)
    except InputError:
        raise
    except Exception as error:
        raise InputError(f"{path}: cannot read row group after row {number} ({error})") from error


class ParquetSink:
    """Appends records to a Parquet file in row groups of bounded size."""

    def __init__(self, path: Path) -> None:
        pa, pq = _pyarrow()
        self._pa = pa
        self._schema = schema()
        self._writer = pq.ParquetWriter(str(path), self._schema)
        self._rows: list[dict[str, Any]] = []
        self._chars = 0

    def write(self, record: QARecord, context: str) -> None:
        self._rows.append(to_row(record, context))
        self._chars += len(context)
        if self._chars >= _ROW_GROUP_CHARS:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(self._pa.Table.from_pylist(self._rows, schema=self._schema))
        self._rows, self._chars = [], 0

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self._writer.close()
