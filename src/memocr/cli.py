"""The `memocr` command line: one subcommand per module in `memocr.commands`.

Each command module exposes `add_arguments(parser)` and `run(args) -> int`. Modules are imported only
when their command runs, so `memocr render` never pays for importing torch. A `MemocrError` that
leaves a command becomes one line on stderr and the error's exit code (2: fix the input; 1: a model
or the renderer failed); so does an `OSError` naming a file (a path the command could not use: exit
2); Ctrl-C exits with 130 without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, str] = {
    "render": "Render a Markdown or HTML memory to an image, optionally fitted to a visual-token budget.",
    "serve": "Run the HTTP render service (drop-in for the released render server).",
    "ask": "Read a long document chunk by chunk and answer a question from the rendered memory.",
    "data": "Build evaluation sets (HotpotQA, 2Wiki, NQ, TriviaQA, RULER-HotpotQA, the offline set).",
    "eval": "Evaluate modes x budgets x datasets; resumable, on one machine or a Ray cluster.",
    "report": "Tables, accuracy-against-budget plots and a browsable HTML report of an eval run.",
    "analyze": "Where memories put their facts (density by region) and the heading-vs-body oracle.",
    "train": "Budget-aware GRPO training of the memory agent (three objectives, checkpoints, resume).",
}


def _command_module(name: str):
    return importlib.import_module(f"memocr.commands.{name}")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memocr", description="Layout-aware visual memory (MemOCR).")
    parser.add_argument("--version", action="version", version=f"memocr {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, summary in COMMANDS.items():
        command_parser = sub.add_parser(name, help=summary, description=summary)
        if name == chosen:
            _command_module(name).add_arguments(command_parser)
    return parser


def _version() -> str:
    from memocr import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from memocr.errors import MemocrError

    try:
        return _command_module(args.command).run(args)
    except MemocrError as error:
        print(f"memocr {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        if error.filename is None:
            raise
        print(f"memocr {args.command}: cannot use {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"memocr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
