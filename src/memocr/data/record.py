"""One question over one long context: the record every dataset builder writes and `memocr eval` reads.

The JSON field names are those of the released evaluation files (``context``, ``input``, ``answers``,
``num_docs``, ``index``) so their files load as they are; ``id``, ``dataset`` and
``supporting_facts`` are ours. ``supporting_facts`` are the sentences of the context that support the
answer, where the source says which (HotpotQA, 2Wiki, the offline set); the analysis uses them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from memocr.errors import InputError


@dataclass
class QARecord:
    id: str
    dataset: str
    input: str
    answers: list[str]
    context: str
    num_docs: int
    index: int
    supporting_facts: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> QARecord:
        """Build a record from parsed JSON; ``where`` ("FILE row N") names it in errors.

        Released files lack ``id`` and ``dataset``: they default to ``<dataset>-<num_docs>-<index>``
        and ``"unknown"``, so a caller that knows the dataset should pass it in ``data``.
        """
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(data).__name__}")
        for name in ("context", "input", "answers"):
            if name not in data:
                raise InputError(f"{where}: missing field {name!r}")
        context, question, answers = data["context"], data["input"], data["answers"]
        if not isinstance(context, str):
            raise InputError(f"{where}: field 'context' must be a string")
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"{where}: field 'input' must be a non-empty string (the question)")
        if isinstance(answers, str):
            answers = [answers]
        if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
            raise InputError(f"{where}: field 'answers' must be a non-empty list of strings")
        index = data.get("index", 0)
        num_docs = data.get("num_docs", 0)
        for name, value in (("index", index), ("num_docs", num_docs)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(f"{where}: field {name!r} must be an integer")
        dataset = data.get("dataset") or "unknown"
        supporting = data.get("supporting_facts") or []
        if not isinstance(supporting, list) or not all(isinstance(s, str) for s in supporting):
            raise InputError(f"{where}: field 'supporting_facts' must be a list of strings")
        extra = {
            key: value for key, value in data.items() if key not in {f.name for f in dataclasses.fields(cls)}
        }
        extra.update(data.get("extra") or {})
        return cls(
            id=str(data.get("id") or f"{dataset}-{num_docs}-{index}"),
            dataset=str(dataset),
            input=question,
            answers=list(answers),
            context=context,
            num_docs=num_docs,
            index=index,
            supporting_facts=list(supporting),
            extra=extra,
        )
