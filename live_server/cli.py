"""``live-server``: serve, import stores, issue tokens (more subcommands join here)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from live_server import __version__
from live_server.core.commands import (
    COMMANDS,
    EXTENSIONS,
    Command,
    common_options,
    data_dir_from,
    settings_from,
)
from live_server.core.embedded_redis import DataDirInUse
from live_server.settings import Settings, SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="live-server", description="Live companion server for live-commerce rooms."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP + Socket.IO server")
    serve.add_argument("--host", help="bind address (default 127.0.0.1; env LIVE_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8080; env LIVE_PORT)")
    serve.add_argument("--workers", type=int, help="worker processes on one port (default 1)")
    serve.add_argument("--demo", action="store_true", default=None, help="seed demo data")
    serve.add_argument(
        "--aof-fsync", choices=["everysec", "always", "no"],
        help="embedded Redis append-only fsync policy (default everysec)",
    )  # fmt: skip
    common_options(serve)

    stores = sub.add_parser("stores", help="store registry")
    stores_sub = stores.add_subparsers(dest="stores_command", required=True)
    imp = stores_sub.add_parser("import", help="bulk upsert stores from JSON, CSV or GeoJSON")
    imp.add_argument("file", type=Path)
    common_options(imp)

    token = sub.add_parser(
        "token",
        help="issue a token (ops [--brand B], host ROOM, staff STORE) or revoke one "
        "(revoke SUBJECT|TOKEN_ID [--store S])",
    )
    token.add_argument("role", choices=["ops", "host", "staff", "revoke"])
    token.add_argument(
        "scope", nargs="?", default="*",
        help="the room (host), the store (staff), or what to revoke: a token id or a "
        "subject such as guide:g1",
    )  # fmt: skip
    token.add_argument(
        "--brand", help="ops: a token for this brand only (default: every brand, platform admin)"
    )
    token.add_argument(
        "--store", help="revoke: only the subject's tokens of this store (a guide of that store)"
    )
    token.add_argument("--ttl", type=int, default=24 * 3600, help="seconds (default 1 day)")
    token.add_argument(
        "--init", action="store_true",
        help="create the data dir's secret if it has none (a new secret: tokens signed "
        "before, and servers using another secret, do not match it)",
    )  # fmt: skip
    common_options(token)

    for name, configure in EXTENSIONS:
        configure(sub.add_parser(name, help=configure.__doc__))
    return parser


def _serve(args: argparse.Namespace) -> int:
    from live_server.serve import serve

    settings = settings_from(
        args, host=args.host, port=args.port, workers=args.workers, demo=args.demo,
        aof_fsync=args.aof_fsync,
    )  # fmt: skip
    return serve(settings)


def _token(args: argparse.Namespace) -> int:
    from live_server.core.tokens import BRAND_SCOPE, Role, TokenSigner

    secret_file = data_dir_from(args) / "secret"
    fresh = not os.environ.get("LIVE_SECRET") and not secret_file.exists()
    if fresh and not args.init:
        print(
            f"live-server token: no secret in {secret_file} and LIVE_SECRET is not set: "
            "a token signed with a new secret would be refused by every server.\n"
            "  Point --data-dir at the server's data dir (the one `live-server serve` uses), "
            "set LIVE_SECRET, or pass --init to create a new secret there.",
            file=sys.stderr,
        )
        return 2
    settings = settings_from(args)
    if args.role == "revoke":
        return _revoke(settings, args)
    if args.role in ("host", "staff") and args.scope == "*":
        what = "room" if args.role == "host" else "store"
        print(f"live-server token: a {args.role} token names its {what}: "
              f"live-server token {args.role} <{what} id>", file=sys.stderr)  # fmt: skip
        return 2
    if args.ttl <= 0:
        print("live-server token: --ttl is a number of seconds above 0", file=sys.stderr)
        return 2
    if fresh:
        print(f"live-server token: created a new secret in {secret_file}", file=sys.stderr)
    scope = args.scope
    if args.brand is not None:
        if args.role != "ops" or scope != "*":
            print("live-server token: --brand scopes an ops token", file=sys.stderr)
            return 2
        scope = BRAND_SCOPE + args.brand
    signer = TokenSigner.from_settings(settings)
    print(signer.issue(Role(args.role), scope, args.role, args.ttl))
    return 0


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    """``token revoke SUBJECT|TOKEN_ID``: every node refuses it within a second."""
    import asyncio

    from live_server.core.commands import redis_for_cli
    from live_server.core.redis_conn import connect_redis
    from live_server.core.revocation import revoke

    what = args.scope
    if what in ("", "*"):
        print("live-server token revoke: name a token id or a subject", file=sys.stderr)
        return 2
    entry = f"{args.store}/{what}" if args.store else what

    async def run(connected: Settings) -> int:
        redis = connect_redis(connected)
        try:
            return await revoke(redis, entry)
        finally:
            await redis.aclose()

    with redis_for_cli(settings, "token revoke") as connected:
        version = asyncio.run(run(connected))
    print(f"revoked {entry} (revocation list version {version}; every node within a second)")
    return 0


def _stores(args: argparse.Namespace) -> int:
    from live_server.stores.cli import import_stores

    return import_stores(settings_from(args), args.file)


def _load_extensions() -> None:
    # Modules that register subcommands with @command.
    import importlib

    for module in (
        "live_server.store_streams.tail",
        "live_server.platforms.replay",
        "loadtest.cli",
        "live_server.conformance",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def main(argv: Sequence[str] | None = None) -> int:
    _load_extensions()
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers: dict[str, Command] = {
        "serve": _serve,
        "token": _token,
        "stores": _stores,
        **COMMANDS,
    }
    try:
        return handlers[args.command](args)
    except SettingsError as exc:
        print(f"live-server: configuration error: {exc}", file=sys.stderr)
        return 2
    except DataDirInUse as exc:
        print(f"live-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    # Run as `python -m live_server.cli`: use the importable module, so subcommands that
    # register themselves on `live_server.cli` land in the same registry as main().
    from live_server.cli import main as _main

    sys.exit(_main())
