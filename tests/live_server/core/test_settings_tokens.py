from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from live_server.core.errors import Unauthorized
from live_server.core.tokens import Role, TokenSigner
from live_server.settings import Settings, SettingsError


def test_local_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings.from_env({}, data_dir=tmp_path)
    second = Settings.from_env({}, data_dir=tmp_path)
    assert len(first.secret) >= 32
    assert first.secret == second.secret
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600


def test_production_refuses_missing_or_weak_secret(tmp_path: Path) -> None:
    env = {"LIVE_ENV": "production", "LIVE_DATA_DIR": str(tmp_path)}
    with pytest.raises(SettingsError, match="LIVE_SECRET"):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match="LIVE_SECRET"):
        Settings.from_env({**env, "LIVE_SECRET": "changeme"})
    ok = Settings.from_env({**env, "LIVE_SECRET": "x" * 40})
    assert ok.production and ok.secret == "x" * 40
    assert not (tmp_path / "secret").exists()


def test_env_then_cli_overrides(tmp_path: Path) -> None:
    env = {"LIVE_PORT": "9000", "REDIS_URL": "redis://h:1/0", "LIVE_WORKERS": "3"}
    s = Settings.from_env(env, data_dir=tmp_path, port=9100, workers=None)
    assert (s.port, s.workers, s.redis_url) == (9100, 3, "redis://h:1/0")
    with pytest.raises(SettingsError, match="port"):
        Settings.from_env({}, data_dir=tmp_path, port=70000)
    with pytest.raises(SettingsError, match="redis-cluster"):
        Settings.from_env({"REDIS_CLUSTER": "1"}, data_dir=tmp_path)


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = Settings.from_env({}, data_dir=tmp_path)
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


def test_token_round_trip_and_tampering() -> None:
    signer = TokenSigner("a" * 40)
    token = signer.issue(Role.STAFF, "sh-jingan", "staff", ttl_s=60)
    claims = signer.verify(token)
    assert (claims.role, claims.scope) == (Role.STAFF, "sh-jingan")
    assert claims.can_act_on_store("sh-jingan") and not claims.can_act_on_store("hz-wulin")
    head, payload, mac = token.split(".")
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    for bad in (f"{head}.{forged_payload}.{mac}", token[:-3] + "xyz", "garbage", "", "lc1.a.b"):
        with pytest.raises(Unauthorized):
            signer.verify(bad)
    with pytest.raises(Unauthorized, match="signature"):
        TokenSigner("b" * 40).verify(token)


def test_the_mac_is_hmac_sha256_as_documented() -> None:
    """The format is a contract (other nodes, earlier releases, integrators' scripts):
    mac = base64url(HMAC-SHA256(sha256("live-companion/tokens/" + secret), "lc1." + payload))."""
    secret = "s" * 40
    token = TokenSigner(secret).issue(Role.VIEWER, "r_1", "v_1", ttl_s=60)
    head, payload, mac = token.split(".")
    key = hashlib.sha256(b"live-companion/tokens/" + secret.encode()).digest()
    expected = base64.urlsafe_b64encode(hmac.digest(key, f"{head}.{payload}".encode(), "sha256"))
    assert mac == expected.rstrip(b"=").decode()


def test_token_expiry() -> None:
    signer = TokenSigner("a" * 40)
    token = signer.issue(Role.VIEWER, "r1", "v1", ttl_s=10, now=1_000)
    assert signer.verify(token, now=1_005).subject == "v1"
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token, now=1_011)


def test_remembered_token_still_expires_and_forgeries_are_not_remembered() -> None:
    signer = TokenSigner("s" * 32)
    token = signer.issue(Role.VIEWER, "room1", "v1", ttl_s=60, now=1_000)
    assert signer.verify(token, now=1_010, remember=True).subject == "v1"
    assert signer.verify(token, now=1_020, remember=True).subject == "v1"  # from memory
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token, now=1_061, remember=True)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(Unauthorized, match="signature"):
            signer.verify(forged, now=1_010, remember=True)
    other = TokenSigner("t" * 32)  # another deployment's secret: its memory is its own
    with pytest.raises(Unauthorized):
        other.verify(token, now=1_010, remember=True)


def test_token_ids_never_read_as_a_command_line_option() -> None:
    """`live-server token revoke ID` takes the id as an argument: one starting with "-" would
    be read as an option (a CI run met -DzE6l73). Over 2,000 tokens, about 30 ids would."""
    signer = TokenSigner("s" * 32)
    ids = {signer.verify(signer.issue(Role.HOST, f"r{n}", now=1_800_000_000)).token_id
           for n in range(2000)}  # fmt: skip
    assert len(ids) == 2000
    assert not [i for i in ids if i.startswith("-")]
