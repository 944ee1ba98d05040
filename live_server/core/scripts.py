"""Lua scripts: one way to load them, one way to call them.

A script is a ``.lua`` file beside the module whose store runs it, read once at import::

    BOOK = Script(__file__, "book.lua")
    ...
    self._book = BOOK.bind(redis, fast)
    reply = await self._book(keys, args)

:meth:`Script.bind` answers a callable ``(keys, args) -> awaitable reply``: on the
auto-pipelined connection (:class:`~live_server.core.fastredis.FastScript`) when the store
has one, else redis-py's registered script (which also routes on a Redis Cluster). Both
run ``EVALSHA`` and load the script again after a ``NOSCRIPT`` (a restarted or flushed
Redis), so callers never see it.

Every script touches keys of one hash tag (``live_server/core/keys.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from live_server.core.fastredis import FastRedis, FastScript
from live_server.core.redis_conn import RedisClient

ScriptArg: TypeAlias = str | bytes | int | float
ScriptCall: TypeAlias = Callable[[Sequence[str], Sequence[ScriptArg]], Awaitable[Any]]
KeysArgv: TypeAlias = tuple[list[str], list[ScriptArg]]
"""What a script's builder hands to the script: its KEYS and its ARGV."""


class Script:
    """A Lua script file, read once; :meth:`bind` it to a client to run it."""

    __slots__ = ("name", "source")

    def __init__(self, anchor: str, name: str, *, libraries: Sequence[Script] = ()) -> None:
        """``anchor`` is the calling module's ``__file__``: the script lies beside it.
        ``libraries`` are Lua files of local functions another domain owns (the task
        functions of guides, say), put before this one's text: one script, one call."""
        self.name = name
        own = (Path(anchor).parent / name).read_text(encoding="utf-8")
        parts: list[str] = [lib.source for lib in libraries]
        self.source: str = "\n".join([*parts, own])

    def bind(self, redis: RedisClient, fast: FastRedis | None = None) -> ScriptCall:
        """The script on ``fast`` when given (the flash paths), else on ``redis``."""
        if fast is not None:
            return FastScript(fast, self.source)  # type: ignore[return-value]  # same call shape
        registered = redis.register_script(self.source)

        def call(keys: Sequence[str], args: Sequence[ScriptArg]) -> Awaitable[Any]:
            return registered(keys=list(keys), args=list(args))

        return call

    def __repr__(self) -> str:
        return f"Script({self.name!r})"
