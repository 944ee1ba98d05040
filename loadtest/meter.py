"""CPU, run-queue wait and memory of the processes of a load run (Linux /proc).

On a shared machine, latency alone cannot tell a slow server from a starved one: the
run-queue wait (time a process was ready to run but had no CPU, from
``/proc/<pid>/task/<tid>/schedstat``) says how much of the run each process spent waiting
for a core. Elsewhere than Linux everything reads 0.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path


def _tree(pid: int) -> list[int]:
    """The process and its descendants (server workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


@dataclass
class Usage:
    cpu_s: float = 0.0
    wait_s: float = 0.0
    rss_mb: float = 0.0


def read_usage(pid: int) -> Usage:
    """Totals for a process tree: CPU and run-queue wait since it started, current RSS."""
    usage = Usage()
    for one in _tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for task in Path(f"/proc/{one}/task").iterdir():
                on_cpu, waiting, _ = (task / "schedstat").read_text().split()
                usage.cpu_s += int(on_cpu) / 1e9
                usage.wait_s += int(waiting) / 1e9
            pages = int(Path(f"/proc/{one}/statm").read_text().split()[1])
            usage.rss_mb += pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    return usage


@dataclass
class ProcessMeter:
    """Sampled while the run goes on; keeps the last reading of processes that exit."""

    baseline: dict[str, Usage] = field(default_factory=dict)
    last: dict[str, Usage] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    def watch(self, name: str, pid: int, *, from_now: bool = True) -> None:
        self.pids[name] = pid
        self.baseline[name] = read_usage(pid) if from_now else Usage()
        self.last[name] = self.baseline[name]

    def sample(self) -> None:
        for name, pid in self.pids.items():
            usage = read_usage(pid)
            if usage.cpu_s >= self.last[name].cpu_s:  # gone: keep the last reading
                self.last[name] = usage
                self.peak_rss[name] = max(self.peak_rss.get(name, 0.0), usage.rss_mb)

    def rebase(self) -> None:
        """Count from the last sample on (a new phase of the run)."""
        self.sample()
        self.baseline = dict(self.last)

    def report(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "cpu_s": round(self.last[name].cpu_s - self.baseline[name].cpu_s, 1),
                "runqueue_wait_s": round(self.last[name].wait_s - self.baseline[name].wait_s, 1),
                "rss_mb": round(self.peak_rss.get(name, 0.0), 1),
            }
            for name in self.pids
        }
