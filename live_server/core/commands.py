"""Subcommands of ``live-server`` that live with their domain (``store-tail``,
``loadtest``) register here, so they need not import the CLI (which imports everything).

    @command("store-tail", configure)
    def run(args: argparse.Namespace) -> int: ...

``live_server.cli`` imports the registering modules, then builds the parser from
:data:`EXTENSIONS` and dispatches to :data:`COMMANDS`. Commands that need Redis get it
from :func:`redis_for_cli` (a running server's, found from ``--data-dir``, never stopped).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from live_server.core.embedded_redis import EmbeddedRedis, find_running
from live_server.settings import Settings, SettingsError

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


def data_dir_from(args: argparse.Namespace) -> Path:
    """The data dir a command works on (--data-dir, else LIVE_DATA_DIR, else ./var), read
    without building the settings (which would create a missing secret)."""
    given = getattr(args, "data_dir", None) or os.environ.get("LIVE_DATA_DIR")
    return Path(given) if given else Settings().data_dir


def redact(url: str) -> str:
    """The URL with its password (if any) masked, for messages."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.contextmanager
def redis_for_cli(
    settings: Settings, command: str, *, may_start: bool = True
) -> Iterator[Settings]:
    """The settings with the Redis a CLI command should talk to; says which on stderr.

    ``--redis-url``/``REDIS_URL``: that one. Else the embedded Redis of a ``live-server
    serve`` running on ``--data-dir`` (found through ``<data-dir>/redis``; it is never
    stopped). Else, with ``may_start``, a temporary embedded Redis on that data dir,
    stopped when the command is done (the data stays in its AOF for the next ``serve``).
    """

    def say(text: str) -> None:
        print(f"live-server {command}: {text}", file=sys.stderr, flush=True)

    if settings.redis_url is not None:
        say(f"using {redact(settings.redis_url)} (--redis-url / REDIS_URL)")
        yield settings
        return
    redis_dir = settings.data_dir / "redis"
    found = find_running(redis_dir)
    if found is not None and (not found.temporary or not may_start):
        say(f"using {found.describe()}")
        yield settings.with_changes(redis_url=found.url)
        return
    if not may_start:
        raise SettingsError(
            f"no running server on --data-dir {settings.data_dir}: run this beside a "
            "local `live-server serve` on that data dir, or pass --redis-url (or REDIS_URL)"
        )
    temp = EmbeddedRedis(
        redis_dir, fsync=settings.aof_fsync, owner=command, temporary=True, replace_stale=False
    )
    url = temp.start()
    say(
        f"no server running on {settings.data_dir}: started a temporary embedded Redis at "
        f"{url} (data in {temp.data_dir}; stopped when done)"
    )
    try:
        yield settings.with_changes(redis_url=url)
    finally:
        temp.stop()


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
