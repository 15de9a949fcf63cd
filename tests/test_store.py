"""The one JSON-lines store, through the reader of every file kind a run writes: a torn last line is
dropped (and only it), any other bad line is an error naming file and line, resume keeps every row."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memocr import store
from memocr.analysis.oracle import OracleRecord, read_oracle
from memocr.errors import InputError
from memocr.eval.results import DRAFTS_FILE, RESULTS_FILE, DraftRecord, read_drafts, read_results
from memocr.trace import DraftStep, read_traces
from memocr.train.log import SUPERSEDED_FILE, MetricsLog, read_metrics
from report_run import result
from test_trace import make_trace


def _result(i: int) -> Any:
    return result(f"q{i}")


def _draft(i: int) -> Any:
    return DraftRecord(f"q{i}", "offline", 20, "visual", "Where?", ["B"], f"# m{i}", "m", 10, 1, 0.5)


def _trace(i: int) -> Any:
    return dataclasses.replace(make_trace(), question_id=f"q{i}")


def _oracle(i: int) -> Any:
    return OracleRecord(f"q{i}", "heading", 16, "Where?", ["B"], "m", "sha", "# B")


def _step(i: int) -> Any:
    return DraftStep(i, 5, f"# m{i}", 10, 2, 0.1)


def _metric(i: int) -> Any:
    return {"step": i, "loss": float(i)}


def _ids(records: list[Any]) -> list[Any]:
    first = records[0]
    if isinstance(first, dict):
        return [row["step"] for row in records]
    if isinstance(first, DraftStep):
        return [step.chunk_index for step in records]
    return [record.question_id for record in records]


# file name, one record by number, the reader a command uses, the record numbers it gives back
KINDS: dict[str, tuple[str, Callable[[int], Any], Callable[[Path], list[Any]], list[Any]]] = {
    "results": (RESULTS_FILE, _result, lambda path: read_results(path.parent), ["q1", "q2", "q3"]),
    "drafts": (DRAFTS_FILE, _draft, lambda path: read_drafts(path.parent), ["q1", "q2", "q3"]),
    "traces": ("traces.jsonl", _trace, read_traces, ["q1", "q2", "q3"]),
    "oracle": ("oracle.jsonl", _oracle, read_oracle, ["q1", "q2", "q3"]),
    "steps": ("steps.jsonl", _step, lambda path: store.read(path, DraftStep), [1, 2, 3]),
    "metrics": ("metrics.jsonl", _metric, lambda path: read_metrics(path.parent), [1, 2, 3]),
}


def _written(tmp_path: Path, kind: str) -> tuple[Path, Callable[[Path], list[Any]], list[Any]]:
    name, make, reader, expected = KINDS[kind]
    path = tmp_path / name
    store.append(path, [make(i) for i in (1, 2, 3)])
    return path, reader, expected


@pytest.mark.parametrize("kind", KINDS)
def test_a_torn_last_line_is_dropped_and_only_it(tmp_path, kind):
    path, reader, expected = _written(tmp_path, kind)
    with path.open("a") as stream:
        stream.write('{"question_id": "q4", "torn_mar')  # a writer killed mid-line
    assert _ids(reader(path)) == expected
    # the next append cuts the torn line and starts on a line of its own
    store.append(path, [KINDS[kind][1](5)])
    assert len(_ids(reader(path))) == 4
    assert "torn_mar" not in path.read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_a_complete_last_line_without_its_newline_is_kept(tmp_path, kind):
    path, reader, expected = _written(tmp_path, kind)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert _ids(reader(path)) == expected
    store.append(path, [KINDS[kind][1](4)])
    assert len(_ids(reader(path))) == 4


BAD_LINES = ["{not json", '["a list"]', '{"question_id": 1}']


@pytest.mark.parametrize(
    ("kind", "bad"),
    # a metrics row is any JSON object, so only the first two are bad there
    [(kind, bad) for kind in KINDS for bad in BAD_LINES if not (kind == "metrics" and bad == BAD_LINES[2])],
)
def test_a_bad_middle_line_is_an_error_naming_file_and_line(tmp_path, kind, bad):
    path, reader, _ = _written(tmp_path, kind)
    lines = path.read_text().splitlines()
    lines[1] = bad
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=rf"{path.name} line 2: not (a|valid JSON)"):
        reader(path)


def test_metrics_resume_never_drops_a_row_after_a_bad_line(tmp_path):
    log = MetricsLog(tmp_path)
    for step in (1, 2, 3, 4):
        log.write(step, {"loss": float(step)})
    log.close()
    path = tmp_path / "metrics.jsonl"
    lines = path.read_text().splitlines()
    lines[1] = "{garbage"
    path.write_text("\n".join(lines) + "\n")
    before = path.read_bytes()
    with pytest.raises(InputError, match=r"metrics\.jsonl line 2"):
        MetricsLog(tmp_path, resumed_step=3)
    assert path.read_bytes() == before  # nothing rewritten, nothing lost
    assert not (tmp_path / SUPERSEDED_FILE).exists()


def test_metrics_resume_moves_later_steps_aside_and_keeps_earlier_ones(tmp_path):
    log = MetricsLog(tmp_path)
    for step in (1, 2, 3):
        log.write(step, {"loss": float(step)})
    log.close()
    with (tmp_path / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 4, "lo')  # a crash mid-write
    MetricsLog(tmp_path, resumed_step=2).close()
    assert [row["step"] for row in read_metrics(tmp_path)] == [1, 2]
    moved = [json.loads(line) for line in (tmp_path / SUPERSEDED_FILE).read_text().splitlines()]
    assert [row["step"] for row in moved] == [3]


def test_read_latest_keeps_the_last_record_of_each_key_in_first_seen_order(tmp_path):
    path = tmp_path / RESULTS_FILE
    store.append(path, [result("a", sub_em=0.0), result("b"), result("a", sub_em=1.0)])
    records = read_results(tmp_path)
    assert [(r.question_id, r.sub_em) for r in records] == [("a", 1.0), ("b", 1.0)]


def test_rewrite_replaces_the_file_atomically(tmp_path):
    path = tmp_path / "rows.jsonl"
    store.append(path, [{"step": 1}, {"step": 2}])
    store.rewrite(path, [{"step": 1}])
    assert store.read(path) == [{"step": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]


def test_a_file_not_written_yet_has_no_records(tmp_path):
    assert store.read_latest(tmp_path / "results.jsonl", type(result("a"))) == []
    assert store.read(tmp_path / "metrics.jsonl") == []
