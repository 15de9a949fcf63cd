"""Source questions read from FlashRAG JSONL files, the original HotpotQA/2Wiki JSON, or the HF hub.

Every reader yields `SourceQuestion`s: the question, its gold answers, the paragraphs that came with it
(title and sentences) and the supporting facts (title, sentence number), whatever the file's layout:

* FlashRAG JSONL (``RUC-NLPIR/FlashRAG_datasets``, one object per line): ``id``, ``question``,
  ``golden_answers`` and, for HotpotQA and 2Wiki, ``metadata.context = {title: [...], sentences |
  content: [[sentence, ...], ...]}`` and ``metadata.supporting_facts = {title: [...], sent_id: [...]}``
  (plus ``metadata.level`` / ``metadata.type``). NQ and TriviaQA rows carry no paragraphs.
* The original HotpotQA / 2WikiMultihopQA JSON (one list): ``_id``, ``question``, ``answer``,
  ``context = [[title, [sentence, ...]], ...]``, ``supporting_facts = [[title, sent_id], ...]``.
* ``datasets.load_dataset("RUC-NLPIR/FlashRAG_datasets", name)``: the FlashRAG rows, when the user
  has a hub connection (`datasets` is imported only then).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memocr import store
from memocr.errors import InputError

HUB_REPO = "RUC-NLPIR/FlashRAG_datasets"


@dataclass
class SourceQuestion:
    row: int  # 0-based position in the source: the record's ``index``
    id: str
    question: str
    answers: list[str]
    paragraphs: list[tuple[str, list[str]]] = field(default_factory=list)
    supporting: list[tuple[str, int]] = field(default_factory=list)
    level: str | None = None
    type: str | None = None

    def paragraph_texts(self) -> list[str]:
        return [paragraph_text(title, sentences) for title, sentences in self.paragraphs]

    def supporting_titles_present(self) -> bool:
        titles = {title for title, _ in self.paragraphs}
        return all(title in titles for title, _ in self.supporting)

    def supporting_sentences(self) -> list[str]:
        """The supporting sentences, stripped, each found verbatim in its paragraph; sentence
        numbers past the paragraph's end (a few exist in HotpotQA) are skipped."""
        sentences = dict(reversed(self.paragraphs))  # the first paragraph of a title wins
        found: list[str] = []
        for title, number in self.supporting:
            text = sentences.get(title, [])
            if 0 <= number < len(text) and text[number].strip() and text[number].strip() not in found:
                found.append(text[number].strip())
        return found


def paragraph_text(title: str, sentences: Iterable[str]) -> str:
    """One pool document: ``title``, a newline, then the sentences joined as they are."""
    return f"{title}\n{''.join(sentences)}"


def read_questions(path: str | Path) -> list[SourceQuestion]:
    """Questions of a FlashRAG ``.jsonl`` or an original HotpotQA/2Wiki ``.json`` file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; pass the FlashRAG JSONL (e.g. hotpotqa/dev.jsonl)")
    if path.suffix.lower() == ".jsonl":
        return [
            parse_row(data, row=n, where=f"{path} line {line}")
            for n, (line, data) in enumerate(store.iter_json_lines(path, torn_tail=False))
        ]
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"{path}: cannot read as UTF-8 JSON ({error})") from error
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON list of questions (HotpotQA's layout)")
        return [parse_row(item, row=n, where=f"{path} row {n + 1}") for n, item in enumerate(data)]
    raise InputError(f"{path}: unknown source type; pass a FlashRAG .jsonl or a HotpotQA .json file")


def read_hub(name: str, split: str | None = None) -> list[SourceQuestion]:
    """Questions of ``name`` from the HF hub (split: ``split``, else test, else dev, else train)."""
    try:
        import datasets
    except ImportError as error:
        raise InputError(
            "reading from the Hugging Face hub needs the `datasets` package (pip install datasets); "
            f"or download {HUB_REPO}/{name}/<split>.jsonl and pass it with --source"
        ) from error
    try:
        splits = datasets.load_dataset(HUB_REPO, name)
    except Exception as error:  # offline, unknown config, hub errors: all fixed by the user
        raise InputError(
            f"cannot load {HUB_REPO} {name!r} from the hub ({type(error).__name__}: {error}); "
            "without a connection, pass the downloaded JSONL file with --source"
        ) from error
    chosen = split or next((s for s in ("test", "dev", "train") if s in splits), None)
    if chosen not in splits:
        raise InputError(f"{HUB_REPO} {name!r} has no split {chosen!r}; it has {', '.join(splits)}")
    where = f"hub {HUB_REPO}/{name} {chosen}"
    return [
        parse_row(dict(item), row=n, where=f"{where} row {n + 1}") for n, item in enumerate(splits[chosen])
    ]


def _text(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: field {name!r} must be a non-empty string")
    return value


def _answers(value: Any, where: str, name: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(a, str) and a.strip() for a in value):
        raise InputError(f"{where}: field {name!r} must be a non-empty list of answer strings")
    return list(value)


def parse_row(data: Any, *, row: int, where: str) -> SourceQuestion:
    """One source row, in FlashRAG's layout or HotpotQA's; errors name ``where`` and the field."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(data).__name__}")
    question = _text(data.get("question"), where, "question")
    if "golden_answers" in data:  # FlashRAG
        answers = _answers(data["golden_answers"], where, "golden_answers")
        meta = data.get("metadata") or {}
        if not isinstance(meta, dict):
            raise InputError(f"{where}: field 'metadata' must be an object")
        paragraphs = _columns(meta.get("context"), where, "metadata.context", ("sentences", "content"))
        supporting = _supporting_columns(meta.get("supporting_facts"), where)
        level, kind = meta.get("level"), meta.get("type")
        qid = data.get("id", row)
    elif "answer" in data:  # original HotpotQA / 2Wiki
        answers = _answers(data["answer"], where, "answer")
        paragraphs = _pairs(data.get("context"), where)
        supporting = _supporting_pairs(data.get("supporting_facts"), where)
        level, kind = data.get("level"), data.get("type")
        qid = data.get("_id", data.get("id", row))
    else:
        raise InputError(f"{where}: missing field 'golden_answers' (FlashRAG) or 'answer' (HotpotQA)")
    return SourceQuestion(
        row=row,
        id=str(qid),
        question=question.strip(),
        answers=answers,
        paragraphs=paragraphs,
        supporting=supporting,
        level=level if isinstance(level, str) else None,
        type=kind if isinstance(kind, str) else None,
    )


def _sentences(value: Any, where: str, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InputError(f"{where}: field {name!r} must hold lists of sentence strings")
    return list(value)


def _columns(context: Any, where: str, name: str, text_keys: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    if context is None:
        return []
    if not isinstance(context, dict) or not isinstance(context.get("title"), list):
        raise InputError(f"{where}: field {name!r} must be an object with a 'title' list")
    key = next((k for k in text_keys if k in context), None)
    if key is None:
        raise InputError(f"{where}: field {name!r} has no {' or '.join(map(repr, text_keys))} list")
    titles, texts = context["title"], context[key]
    if not isinstance(texts, list) or len(texts) != len(titles):
        raise InputError(f"{where}: field '{name}.{key}' must be a list as long as '{name}.title'")
    return [
        (_text(t, where, f"{name}.title"), _sentences(s, where, f"{name}.{key}"))
        for t, s in zip(titles, texts, strict=True)
    ]


def _supporting_columns(value: Any, where: str) -> list[tuple[str, int]]:
    if value is None:
        return []
    name = "metadata.supporting_facts"
    if not isinstance(value, dict) or not isinstance(value.get("title"), list):
        raise InputError(f"{where}: field {name!r} must be an object with 'title' and 'sent_id' lists")
    ids = value.get("sent_id", [0] * len(value["title"]))
    if (
        not isinstance(ids, list)
        or len(ids) != len(value["title"])
        or not all(isinstance(i, int) for i in ids)
    ):
        raise InputError(f"{where}: field '{name}.sent_id' must be a list of integers as long as its 'title'")
    return [(str(t), i) for t, i in zip(value["title"], ids, strict=True)]


def _pairs(context: Any, where: str) -> list[tuple[str, list[str]]]:
    if context is None:
        return []
    if not isinstance(context, list) or not all(isinstance(p, list) and len(p) == 2 for p in context):
        raise InputError(f"{where}: field 'context' must be a list of [title, [sentences]] pairs")
    return [(_text(t, where, "context title"), _sentences(s, where, "context")) for t, s in context]


def _supporting_pairs(value: Any, where: str) -> list[tuple[str, int]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[1], int) for p in value
    ):
        raise InputError(
            f"{where}: field 'supporting_facts' must be a list of [title, sentence number] pairs"
        )
    return [(str(t), i) for t, i in value]


def iter_passages(path: str | Path, limit: int | None = None) -> Iterator[tuple[str, str]]:
    """``(title, text)`` passages of a corpus JSONL file: rows ``{"title", "text"}`` or FlashRAG's
    ``{"contents": "title\\ntext"}`` (wiki18; a quoted title loses its quotes); at most ``limit``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (the passage corpus)")
    for count, (line, data) in enumerate(store.iter_json_lines(path, torn_tail=False)):
        if limit is not None and count >= limit:
            return
        where = f"{path} line {line}"
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a JSON object with 'title' and 'text' (or 'contents')")
        if "contents" in data:
            contents = _text(data["contents"], where, "contents")
            title, _, text = contents.partition("\n")
            title = title.strip()
            if len(title) > 1 and title[0] == title[-1] == '"':
                title = title[1:-1]
        else:
            title, text = _text(data.get("title"), where, "title"), _text(data.get("text"), where, "text")
        if text.strip():
            yield title.strip(), text.strip()
