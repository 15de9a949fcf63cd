"""An evaluation's run directory: what is left to do, and saving each finished question durably.

Layout (see `memocr.eval.results` for the record types)::

    OUT/config.yaml                 the config of the latest run into this directory
    OUT/results.jsonl               one ResultRecord per question × mode × budget
    OUT/drafts.jsonl                one DraftRecord per question × mode whose memory is final
    OUT/traces/<dataset>-<length>/<mode>/traces.jsonl and <question_id>/ (drafts, memory, images)

Only the process that owns the directory writes to it (Ray workers return their traces to it).
Resuming: a question × mode whose every budget has a successful record is skipped; one with a stored
final memory answers only its missing budgets from that memory; anything else is drafted again.
Failed records are kept for the report and retried by the next run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from memocr import store
from memocr.config import check_writable, load_yaml, to_dict, without_secrets, write_config
from memocr.data.record import QARecord
from memocr.errors import ConfigError
from memocr.eval.config import ANSWER_SETTINGS, EvalConfig
from memocr.eval.results import (
    CONFIG_FILE,
    DRAFTS_FILE,
    RESULTS_FILE,
    DraftRecord,
    ResultRecord,
    read_drafts,
    read_results,
    result_key,
)
from memocr.metrics import score
from memocr.trace import RunRecorder, Trace, TraceWriter

# Stages after which the final memory exists: a failure there keeps the memory for the next run.
_MEMORY_FINAL_STAGES = ("render", "answering", "done")


@dataclass
class WorkUnit:
    """One question in one mode: the budgets it still needs, and its stored memory if drafted before."""

    question: QARecord
    mode: str
    budgets: list[int]
    draft: DraftRecord | None = None

    @property
    def label(self) -> str:
        return f"{self.question.id} ({self.mode})"


class RunDirectory:
    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self.path = Path(config.out)
        self.results_path = self.path / RESULTS_FILE
        self.drafts_path = self.path / DRAFTS_FILE
        self._writers: dict[tuple[str, int, str], TraceWriter] = {}
        self._drafts: dict[tuple, DraftRecord] = {}
        self._lock = threading.Lock()  # one save at a time: appended lines never interleave

    def open(self) -> None:
        """Create or reopen the directory: refuse settings that differ from its records', cut a line
        torn by a killed writer, write the config."""
        check_writable(self.path, "out")
        self.path.mkdir(parents=True, exist_ok=True)
        config_path = self.path / CONFIG_FILE
        if config_path.exists() and (self.results_path.exists() or self.drafts_path.exists()):
            self._check_same_settings(config_path)
        for path in (self.results_path, self.drafts_path):
            store.mend_tail(path)
        write_config(self.config, config_path)

    def _check_same_settings(self, config_path: Path) -> None:
        """Refuse settings that differ from the directory's; a setting left unset (None: the model's
        suggestion) takes the directory's value, so a run started with an explicit value, or before
        the setting could be left to the model, resumes as it started."""
        earlier = without_secrets(EvalConfig, load_yaml(config_path))  # model specs compared redacted
        for name in ANSWER_SETTINGS:
            if earlier.get(name) is not None and getattr(self.config, name) is None:
                setattr(self.config, name, earlier[name])
        now = to_dict(self.config)
        changed = [name for name in ANSWER_SETTINGS if name in earlier and earlier[name] != now[name]]
        if changed:
            details = ", ".join(f"{name}: {earlier[name]!r} → {now[name]!r}" for name in changed)
            raise ConfigError(
                f"{self.path} holds results made with other settings ({details}); resume with the same "
                "settings or choose another --out"
            )

    def pending(self, questions: list[QARecord]) -> list[WorkUnit]:
        """What is left to do for ``questions`` × the config's modes and budgets."""
        done = {record.key for record in read_results(self.path) if not record.failed}
        self._drafts = {draft.key: draft for draft in read_drafts(self.path)}
        units = []
        for question in questions:
            for mode in self.config.mode:
                missing = [
                    budget for budget in self.config.budget if _result_key(question, mode, budget) not in done
                ]
                if missing:
                    draft = self._drafts.get(
                        ("draft", question.dataset, question.num_docs, question.id, mode)
                    )
                    units.append(WorkUnit(question, mode, missing, draft))
        return units

    def start_trace(self, unit: WorkUnit) -> RunRecorder:
        """A trace folder of the unit's own, created now (drafts are appended to it as they finish)."""
        key = (unit.question.dataset, unit.question.num_docs, unit.mode)
        if key not in self._writers:
            folder = self.path / "traces" / f"{key[0]}-{key[1]}" / unit.mode
            self._writers[key] = TraceWriter(folder)
        return self._writers[key].start(unit.question.id)

    def save(self, unit: WorkUnit, trace: Trace, recorder: RunRecorder) -> list[ResultRecord]:
        """Write the trace's files, its memory (when final) and one record per budget; images are
        dropped from memory once written. Returns the records appended. Thread-safe."""
        with self._lock:
            return self._save(unit, trace, recorder)

    def _save(self, unit: WorkUnit, trace: Trace, recorder: RunRecorder) -> list[ResultRecord]:
        recorder.finish(trace)
        _drop_images(trace)
        folder = str(recorder.folder.relative_to(self.path))
        question = unit.question
        draft = unit.draft
        if draft is None and (trace.error is None or trace.error.stage in _MEMORY_FINAL_STAGES):
            draft = DraftRecord(
                question_id=question.id,
                dataset=question.dataset,
                length=question.num_docs,
                mode=unit.mode,
                question=question.input,
                golds=question.answers,
                final_memory=trace.final_memory,
                model=trace.model,
                document_tokens=trace.document_tokens,
                chunks=trace.chunks_total,
                draft_seconds=trace.timings.get("drafting", 0.0),
                supporting_facts=question.supporting_facts,
                trace=folder,
            )
            store.append(self.drafts_path, [draft])
        records = [self._answered(unit, trace, answer, draft, folder) for answer in trace.answers]
        if trace.error is not None:
            answered = {answer.budget for answer in trace.answers}
            records += [
                self._failed(unit, trace, budget, draft, folder)
                for budget in unit.budgets
                if budget not in answered
            ]
        store.append(self.results_path, records)
        return records

    def _base(self, unit: WorkUnit, trace: Trace, draft: DraftRecord | None, folder: str) -> dict:
        seconds = {"draft": draft.draft_seconds if draft else trace.timings.get("drafting", 0.0)}
        if "render" in trace.timings:
            seconds["render"] = trace.timings["render"]
        return {
            "question_id": unit.question.id,
            "question": unit.question.input,
            "dataset": unit.question.dataset,
            "length": unit.question.num_docs,
            "mode": unit.mode,
            "golds": unit.question.answers,
            "model": trace.model,
            "scoring": self.config.scoring,
            "document_tokens": draft.document_tokens if draft else trace.document_tokens,
            "chunks": draft.chunks if draft else trace.chunks_total,
            "seconds": seconds,
            "prompts": trace.prompts,
            "seed": trace.settings.get("seed"),
            "trace": folder,
        }

    def _answered(self, unit, trace, answer, draft, folder) -> ResultRecord:
        scores = score(answer.response, unit.question.answers, scoring=self.config.scoring)
        base = self._base(unit, trace, draft, folder)
        base["seconds"] = dict(base["seconds"], answer=answer.answer_seconds)
        for name in ("fit_seconds", "ocr_seconds"):
            if getattr(answer, name) is not None:
                base["seconds"][name.removesuffix("_seconds")] = getattr(answer, name)
        return ResultRecord(
            budget=answer.budget,
            prediction=scores.answer,
            response=answer.response,
            em=scores.em,
            f1=scores.f1,
            sub_em=scores.sub_em,
            visual_tokens=answer.visual_tokens,
            memory_tokens=answer.memory_tokens,
            image_width=answer.image_width,
            image_height=answer.image_height,
            **base,
        )

    def _failed(self, unit, trace, budget, draft, folder) -> ResultRecord:
        assert trace.error is not None
        error = {"stage": trace.error.stage, "type": trace.error.type, "message": trace.error.message}
        return ResultRecord(
            budget=budget,
            prediction=None,
            response="",
            em=None,
            f1=None,
            sub_em=None,
            error=error,
            **self._base(unit, trace, draft, folder),
        )


def _result_key(question: QARecord, mode: str, budget: int) -> tuple:
    return result_key(question.dataset, question.num_docs, question.id, mode, budget)


def _drop_images(trace: Trace) -> None:
    if trace.render is not None:
        trace.render.image = None
    for answer in trace.answers:
        answer.image = None
