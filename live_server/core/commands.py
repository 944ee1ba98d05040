"""Subcommands of ``live-server`` that live with their domain (``store-tail``,
``loadtest``) register here, so they need not import the CLI (which imports everything).

    @command("store-tail", configure)
    def run(args: argparse.Namespace) -> int: ...

``live_server.cli`` imports the registering modules, then builds the parser from
:data:`EXTENSIONS` and dispatches to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from live_server.settings import Settings

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Command] = {}


def common_options(p: argparse.ArgumentParser) -> None:
    """--redis-url, --redis-cluster and --data-dir: where the server's Redis and data are."""
    p.add_argument("--redis-url", help="Redis/Valkey URL (env REDIS_URL); none: embedded server")
    p.add_argument(
        "--redis-cluster", action="store_true", default=None,
        help="the URL is a seed node of a Redis Cluster (env REDIS_CLUSTER=1)",
    )  # fmt: skip
    p.add_argument("--data-dir", type=Path, help="embedded Redis data, secret, demo.json (./var)")


def settings_from(args: argparse.Namespace, **extra: object) -> Settings:
    """The settings of the environment, with what the common options gave."""
    return Settings.from_env(
        None,  # the process environment (positional, so ``extra`` is only overrides)
        redis_url=getattr(args, "redis_url", None),
        redis_cluster=getattr(args, "redis_cluster", None),
        data_dir=getattr(args, "data_dir", None),
        **extra,
    )


EXTENSIONS: list[tuple[str, Callable[[argparse.ArgumentParser], None]]] = []


def command(
    name: str, configure: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Command], Command]:
    """Register a subcommand (used by modules that add CLI tools)."""

    def deco(fn: Command) -> Command:
        EXTENSIONS.append((name, configure))
        COMMANDS[name] = fn
        return fn

    return deco
