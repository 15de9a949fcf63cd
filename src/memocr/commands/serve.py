"""`memocr serve`: run the HTTP render service (see `memocr.render.service`)."""

from __future__ import annotations

import argparse
import sys

from memocr.config import ConfigError, add_config_arguments, config_from_args
from memocr.render.service import ServeConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, ServeConfig)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(ServeConfig, args)
    except ConfigError as error:
        print(f"memocr serve: {error}", file=sys.stderr)
        return 2
    import uvicorn

    from memocr.render.service import create_app

    print(
        f"memocr serve: profile {config.profile}, {config.input} input, http://{config.host}:{config.port}/render",
        file=sys.stderr,
    )
    # One process: the Chromium page pool is the parallelism, so uvicorn needs no worker processes.
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level=config.log_level)
    return 0
