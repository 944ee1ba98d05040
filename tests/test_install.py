"""The install a brand runs: the locked set, and a built wheel that serves its pages.

* ``.venv`` holds exactly what ``uv.lock`` says for this platform (nothing more, nothing
  less, same versions): ``make setup`` installs with ``uv sync --locked``.
* The wheel (what ``pip install .`` and the Dockerfile install) carries the browser
  assets: installed into a fresh virtualenv, ``live-server serve --demo`` started from an
  unrelated working directory serves ``/static/widget.js`` and the demo room page, and
  prints no warning while starting.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from live_server import __version__
from live_server.questions.dedup import RETAIL_LEXICONS

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "live-companion"


def _uv() -> str:
    """The uv that ``make setup`` installed (.tools), else one on PATH."""
    local = ROOT / ".tools" / "bin" / "uv"
    if local.exists():
        return str(local)
    found = shutil.which("uv")
    if found is None:
        pytest.fail("uv not found: run `make setup` (it installs uv into .tools/)")
    return found


def _locked(*extra: str) -> dict[str, str]:
    """name -> version of what uv.lock installs on this platform (markers evaluated)."""
    out = subprocess.run(
        [_uv(), "export", "--frozen", "--no-hashes", "--no-emit-project", "--no-header",
         "--no-annotate", *extra],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    wanted: dict[str, str] = {}
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement, _, marker = line.partition(";")
        name, _, version = requirement.strip().partition("==")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        wanted[canonicalize_name(name)] = version.strip()
    return wanted


def test_venv_is_exactly_the_lock() -> None:
    """What this suite runs on is the locked set: no package missing, extra or moved."""
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions(path=[p for p in sys.path if "site-packages" in p])
    }
    installed.pop(PROJECT, None)
    locked = _locked("--all-extras")
    assert {n: v for n, v in installed.items() if locked.get(n) != v} == {}, (
        "installed but not locked (or another version): run `make setup`"
    )
    assert sorted(set(locked) - set(installed)) == [], "locked but not installed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


@pytest.mark.slow
def test_installed_wheel_serves_widget_and_pages(tmp_path: Path) -> None:
    if not (ROOT / "static" / "widget.js").exists():
        pytest.fail("static/widget.js is not built: run `make frontend` first")
    uv = _uv()
    dist = tmp_path / "dist"
    # The wheel, built offline with the locked build backend (hatchling is in the dev extra).
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(dist), str(ROOT)],
        check=True, timeout=300,
    )  # fmt: skip
    (wheel,) = dist.glob("live_companion-*.whl")
    assert f"-{__version__}-" in wheel.name
    with zipfile.ZipFile(wheel) as archive:  # the question matcher's data files ship too
        names = set(archive.namelist())
    for data in (*RETAIL_LEXICONS, "near-words.json.gz"):
        assert f"live_server/questions/lexicons/{data}" in names, data

    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
                   check=True, env=env, timeout=120)  # fmt: skip
    requirements = tmp_path / "requirements.txt"
    subprocess.run(
        [uv, "export", "--frozen", "--no-emit-project", "--no-header", "--quiet",
         "--output-file", str(requirements)],
        cwd=ROOT, check=True, env=env, timeout=60,
    )  # fmt: skip
    python = venv / "bin" / "python"
    for args in (["--require-hashes", "-r", str(requirements)], ["--no-deps", str(wheel)]):
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), *args],
                       check=True, env=env, timeout=600)  # fmt: skip

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    server_bin = venv / "bin" / "live-server"
    version = subprocess.run([str(server_bin), "--version"], capture_output=True, text=True,
                             check=True, cwd=elsewhere, timeout=60)  # fmt: skip
    assert version.stdout.strip() == f"live-server {__version__}"

    port = _free_port()
    log = tmp_path / "server.log"
    run_env = {k: v for k, v in env.items() if not k.startswith(("LIVE_", "REDIS_"))}
    run_env["PYTHONWARNINGS"] = "default"  # any warning at start shows in the log
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(server_bin), "serve", "--demo", "--port", str(port),
             "--data-dir", str(tmp_path / "data")],
            cwd=elsewhere, env=run_env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if _get(f"{base}/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "not ready in 60 s:\n" + log.read_text()
                time.sleep(0.2)

            status, body, content_type = _get(f"{base}/static/widget.js")
            assert status == 200, body[:200]
            assert content_type.split(";")[0] in {"text/javascript", "application/javascript"}
            assert len(body) > 10_000  # the real bundle, not an empty file

            status, body, content_type = _get(f"{base}/demo/room/r_demo")
            assert (status, content_type.split(";")[0]) == (200, "text/html"), body[:300]
            assert b"/static/widget.js" in body
        finally:
            server.terminate()
            server.wait(timeout=30)
    output = log.read_text()
    assert server.returncode == 0, output
    assert not re.search(r"warn", output, re.IGNORECASE), output
