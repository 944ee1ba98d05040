"""`live-server stores import` of a large file says how far it is: rows done / total."""

from __future__ import annotations

import io
from pathlib import Path

from live_server.stores.cli import RowProgress
from tests.live_server.test_local_ops import cli

ROWS = 2_500


def test_import_prints_rows_done_of_total(tmp_path: Path) -> None:
    lines = ["id,name,address,lat,lng,timezone,capacity"]
    for i in range(ROWS):
        lines.append(f"s{i},Store {i},Road {i},{30 + i / 10_000:.5f},121.4,Asia/Shanghai,4")
    csv_file = tmp_path / "stores.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    done = cli("stores", "import", str(csv_file), "--data-dir", str(tmp_path / "var"))
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if line.startswith("checking")]
    # not a terminal: the first line, then at most one a second, and always the last
    assert progress[0] == f"checking stores.csv: 1,000 / {ROWS:,} rows (40%)"
    assert progress[-1] == f"checking stores.csv: {ROWS:,} / {ROWS:,} rows (100%)"
    assert f"writing {ROWS:,} stores in one atomic step" in done.stderr
    assert f"imported {ROWS} stores" in done.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_on_a_terminal() -> None:
    out = _Terminal()
    progress = RowProgress("checking big.csv", stream=out, interval_s=0)
    progress(1000, 3000)
    progress(3000, 3000)
    assert out.getvalue() == (
        "\rchecking big.csv: 1,000 / 3,000 rows (33%)"
        "\rchecking big.csv: 3,000 / 3,000 rows (100%)\n"
    )
