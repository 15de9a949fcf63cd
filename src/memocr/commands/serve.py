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
    import asyncio

    import uvicorn

    from memocr.errors import MemocrError
    from memocr.render.service import create_app, server_config

    async def serve() -> int:
        try:
            app = create_app(config)  # reads the token file; its content is never printed
            # Started before the server listens, so that a renderer that cannot start (no Chromium,
            # no sandbox) stops the command with one line; the app's lifespan then finds it running.
            await app.state.renderer.start()
        except MemocrError as error:
            print(f"memocr serve: {error}", file=sys.stderr)
            return error.exit_code
        auth = "bearer token required" if config.token_file else "no token"
        print(
            f"memocr serve: profile {config.profile}, {config.input} input, {auth}, "
            f"http://{config.host}:{config.port}/render",
            file=sys.stderr,
        )
        try:
            # One process: the Chromium page pool is the parallelism; uvicorn needs no worker processes.
            await uvicorn.Server(server_config(config, app)).serve()
        finally:
            await app.state.renderer.close()
        return 0

    return asyncio.run(serve())
