"""Every operation of /openapi.json, fuzzed by schemathesis against a real server.

The server is ``live-server serve --demo`` in a subprocess (its own embedded Valkey), so the
schema is the one a deployment publishes. An ops token rides on every request, so the
handlers behind the role checks are exercised too (ops passes every role and scope check);
the ``ignored_auth`` check also calls each secured operation without it and expects 401.

Checks: no 5xx, only documented statuses, bodies and headers match the schema, declared
content types, 401 without a token, 405 for undeclared methods, required headers enforced.
Not enforced (see docs/SECURITY.md, "what is left"): ``positive_data_acceptance`` (business
rules stricter than the schema, e.g. a coupon code's MAC, answer 400 by design) and
``negative_data_rejection`` (pydantic's lax mode takes ``false`` for a number).

Bounded: ``--max-examples`` per operation and phases examples, coverage and fuzzing (no
stateful phase); about 15 s on the shared 2-core box. The schemathesis pytest plugin is not
used: its lazy fixture loading breaks on pytest 9 (``Function`` has no ``_nodeid``); and
one schemathesis worker, because its coverage phase sometimes dies with a CPython
"AST constructor recursion depth mismatch" when two threads build strategies at once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import ServerProcess

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 20
SEED = 20250609  # fixed: a CI failure replays locally with the same cases
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "ignored_auth",
    "missing_required_header", "unsupported_method",
])  # fmt: skip


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("schemathesis"), workers=1, fsync="everysec")
    server.start()
    yield server
    server.stop()


def _st() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    if found is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[test]'")
    return found


@pytest.mark.timeout(240)
def test_openapi_contract(live_server: ServerProcess, tmp_path: Path) -> None:
    ops_token = live_server.demo()["ops_token"]
    report = tmp_path / "schemathesis.txt"
    cmd = [
        _st(), "run", f"{live_server.base}/openapi.json",
        "--header", f"Authorization: Bearer {ops_token}",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
        "--workers", "1", "--request-timeout", "10", "--no-color",
    ]  # fmt: skip
    with report.open("wb") as out:
        # cwd: schemathesis keeps a .schemathesis/ cache in the working directory.
        proc = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, timeout=200, check=False, cwd=tmp_path
        )
    text = report.read_text(errors="replace")
    summary = text[text.rfind("SUMMARY") :] if "SUMMARY" in text else text[-3000:]
    print(summary)
    assert proc.returncode == 0, text[-12000:]
    assert "generated" in summary and "5xx" not in summary
