"""One frozen settings object, built once from the environment and the command line."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

WEAK_SECRETS = frozenset({"", "secret", "changeme", "change-me", "dev", "test", "default"})
MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """The configuration cannot be used; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a deployment can configure. Build with :meth:`from_env`."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    redis_url: str | None = None
    redis_cluster: bool = False
    data_dir: Path = Path("var")
    demo: bool = False
    secret: str = ""
    """The signing secret: ``LIVE_SECRET``, or the first of ``LIVE_SECRETS``."""
    signing_keys: tuple[tuple[str, str], ...] = ()
    """``(key id, secret)`` of every active key, the signing one first (``LIVE_SECRETS`` as
    ``kid:secret,kid2:secret2``; ``LIVE_SECRET`` alone is one key with a derived id). Tokens
    and coupon codes signed with any of them verify (docs/SECURITY.md, key rotation)."""
    identity_secret: str = ""
    """Derives viewer ids from external ids (the same person, the same viewer): it must
    outlive key rotations. ``LIVE_IDENTITY_SECRET``, else ``LIVE_SECRET`` (kept beside
    ``LIVE_SECRETS`` it signs nothing, it only keeps viewer ids), else the signing key."""
    production: bool = False
    aof_fsync: str = "everysec"
    public_url: str | None = None
    max_body_bytes: int = 1 << 20
    cors_origins: tuple[str, ...] = ("*",)
    shutdown_timeout: float = 10.0
    redis_timeout: float = 2.0
    log_level: str = "INFO"
    access_log: bool = True
    credit_store_share: float = 0.7
    """LIVE_CREDIT_STORE_SHARE: a sale's share credited to the guide's store side (the rest
    to the live team)."""
    tasks: bool = True
    """LIVE_TASKS=0: bookings make no guide task (the tasks bench compares both)."""
    task_accept_s: int = 300
    """LIVE_TASK_ACCEPT_S: a task not accepted this long after it was assigned goes to
    another guide (and the manager is told)."""
    task_remind_s: int = 1800
    """LIVE_TASK_REMIND_S: the guide's reminder comes this long before the slot."""
    task_no_show_grace_s: int = 900
    """LIVE_TASK_NO_SHOW_GRACE_S: a booking not arrived by slot end + this is a no-show."""
    task_timer_poll_s: float = 1.0
    """How often each node looks for due task timers (LIVE_TASK_TIMER_POLL_S)."""
    follow_up_repair_s: float = 5.0
    """How often one process (across all nodes) repairs the booking follow-ups a crash left
    pending (LIVE_FOLLOW_UP_REPAIR_S; bookings/follow_ups.py)."""
    follow_up_grace_s: float = 30.0
    """A pending follow-up is repaired once this old: a live request applies its own first
    (LIVE_FOLLOW_UP_GRACE_S)."""
    preview_days: float = 3.0
    """A scheduled broadcast's preview goes to the brand's groups this many days before it
    (LIVE_PREVIEW_DAYS; docs/GROUPS.md)."""
    token_ttl_s: int = 7 * 24 * 3600
    rate_limits: bool = True
    platform_secret: str = ""
    rate_limit_exempt: tuple[str, ...] = ()
    trust_forwarded: bool = False
    metrics_token: str = ""
    """Bearer token /metrics asks for (LIVE_METRICS_TOKEN); in production /metrics is closed
    without one."""
    log_format: str = "auto"
    """LIVE_LOG_FORMAT: ``json`` (one object per line), ``text``, or ``auto`` (text on a
    terminal, JSON otherwise)."""
    worker_watchdog_s: float = 10.0
    """LIVE_WORKER_WATCHDOG_S: a worker whose event loop has not ticked for this long is
    replaced (``--workers N`` only)."""
    peer_dir: Path | None = None
    """Set by the worker supervisor: the folder where its workers find each other (metrics
    snapshots over Unix sockets, the supervisor's restart counts)."""
    worker_id: str = ""
    """Set by the worker supervisor: this worker's slot (``0``..``N-1``)."""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """The URL browsers and bots reach this server on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``LIVE_*``/``REDIS_*`` variables, then apply CLI overrides (None = unset).

        The token secret comes from ``LIVE_SECRET``. Without it, a local run keeps a
        generated secret in ``<data-dir>/secret``; production (``LIVE_ENV=production``)
        refuses to start with a missing or weak secret.
        """
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if "LIVE_HOST" in env:
            values["host"] = env["LIVE_HOST"]
        if "PORT" in env or "LIVE_PORT" in env:
            values["port"] = _int(env.get("LIVE_PORT") or env["PORT"], "LIVE_PORT")
        if "LIVE_WORKERS" in env:
            values["workers"] = _int(env["LIVE_WORKERS"], "LIVE_WORKERS")
        if env.get("REDIS_URL"):
            values["redis_url"] = env["REDIS_URL"]
        if env.get("REDIS_CLUSTER", "").lower() in ("1", "true", "yes"):
            values["redis_cluster"] = True
        if env.get("LIVE_DATA_DIR"):
            values["data_dir"] = Path(env["LIVE_DATA_DIR"])
        if env.get("LIVE_ENV", "").lower() in ("prod", "production"):
            values["production"] = True
        if env.get("LIVE_AOF_FSYNC"):
            values["aof_fsync"] = env["LIVE_AOF_FSYNC"]
        if env.get("LIVE_PUBLIC_URL"):
            values["public_url"] = env["LIVE_PUBLIC_URL"]
        if env.get("LIVE_CORS_ORIGINS"):
            values["cors_origins"] = tuple(
                o.strip() for o in env["LIVE_CORS_ORIGINS"].split(",") if o.strip()
            )
        if env.get("LIVE_MAX_BODY_BYTES"):
            values["max_body_bytes"] = _int(env["LIVE_MAX_BODY_BYTES"], "LIVE_MAX_BODY_BYTES")
        if env.get("LIVE_LOG_LEVEL"):
            values["log_level"] = env["LIVE_LOG_LEVEL"].upper()
        if env.get("LIVE_PLATFORM_SECRET"):
            values["platform_secret"] = env["LIVE_PLATFORM_SECRET"]
        if env.get("LIVE_RATE_LIMITS", "").lower() in ("0", "false", "off"):
            values["rate_limits"] = False
        if env.get("LIVE_RATE_LIMIT_EXEMPT"):
            values["rate_limit_exempt"] = tuple(
                a.strip() for a in env["LIVE_RATE_LIMIT_EXEMPT"].split(",") if a.strip()
            )
        if env.get("LIVE_TRUST_FORWARDED", "").lower() in ("1", "true", "yes"):
            values["trust_forwarded"] = True
        if env.get("LIVE_METRICS_TOKEN"):
            values["metrics_token"] = env["LIVE_METRICS_TOKEN"]
        if env.get("LIVE_LOG_FORMAT"):
            values["log_format"] = env["LIVE_LOG_FORMAT"].lower()
        if env.get("LIVE_WORKER_WATCHDOG_S"):
            values["worker_watchdog_s"] = float(env["LIVE_WORKER_WATCHDOG_S"])
        if env.get("LIVE_CREDIT_STORE_SHARE"):
            values["credit_store_share"] = float(env["LIVE_CREDIT_STORE_SHARE"])
        if env.get("LIVE_TASKS", "").lower() in ("0", "false", "off"):
            values["tasks"] = False
        for name, attr in (
            ("LIVE_TASK_ACCEPT_S", "task_accept_s"), ("LIVE_TASK_REMIND_S", "task_remind_s"),
            ("LIVE_TASK_NO_SHOW_GRACE_S", "task_no_show_grace_s"),
        ):  # fmt: skip
            if env.get(name):
                values[attr] = _int(env[name], name)
        if env.get("LIVE_TASK_TIMER_POLL_S"):
            values["task_timer_poll_s"] = float(env["LIVE_TASK_TIMER_POLL_S"])
        for name, attr in (
            ("LIVE_FOLLOW_UP_REPAIR_S", "follow_up_repair_s"),
            ("LIVE_FOLLOW_UP_GRACE_S", "follow_up_grace_s"),
        ):
            if env.get(name):
                values[attr] = float(env[name])
        if env.get("LIVE_PREVIEW_DAYS"):
            values["preview_days"] = float(env["LIVE_PREVIEW_DAYS"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        settings = settings.with_changes(data_dir=Path(settings.data_dir))
        settings._validate()
        return _resolve_keys(settings.with_changes(secret=_resolve_secret(settings, env)), env)

    def _validate(self) -> None:
        if not 0 < self.port < 65536:
            raise SettingsError(f"port must be 1..65535, got {self.port}")
        if not 1 <= self.workers <= 64:
            raise SettingsError(f"workers must be 1..64, got {self.workers}")
        if self.aof_fsync not in ("everysec", "always", "no"):
            raise SettingsError("LIVE_AOF_FSYNC must be everysec, always or no")
        if self.redis_cluster and not self.redis_url:
            raise SettingsError("--redis-cluster needs --redis-url (a seed node of the cluster)")
        if self.log_format not in ("auto", "json", "text"):
            raise SettingsError("LIVE_LOG_FORMAT must be json, text or auto")
        if self.worker_watchdog_s <= 0:
            raise SettingsError("LIVE_WORKER_WATCHDOG_S must be a positive number of seconds")
        if not 0.0 <= self.credit_store_share <= 1.0:
            raise SettingsError("credit_store_share must be within 0..1")
        if min(self.task_accept_s, self.task_remind_s, self.task_no_show_grace_s) < 0:
            raise SettingsError("LIVE_TASK_*_S must be zero or more seconds")
        if not 0 < self.task_timer_poll_s <= 60:
            raise SettingsError("LIVE_TASK_TIMER_POLL_S must be within (0, 60] seconds")
        if not 0 < self.follow_up_repair_s <= 3600 or self.follow_up_grace_s < 0:
            raise SettingsError(
                "LIVE_FOLLOW_UP_REPAIR_S must be within (0, 3600] s, LIVE_FOLLOW_UP_GRACE_S >= 0"
            )


def _int(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


def derived_key_id(secret: str) -> str:
    """The key id of a secret given alone (``LIVE_SECRET``): stable, reveals nothing."""
    return hashlib.sha256(b"live-companion/key-id/" + secret.encode()).hexdigest()[:8]


def parse_signing_keys(text: str) -> tuple[tuple[str, str], ...]:
    """``kid:secret,kid2:secret2`` -> ``(("kid", "secret"), ...)``; SettingsError if wrong."""
    keys: list[tuple[str, str]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        kid, sep, secret = item.strip().partition(":")
        if not sep or not KEY_ID.match(kid) or not secret:
            raise SettingsError(
                "LIVE_SECRETS must be kid:secret pairs separated by commas (key ids: 1-16 of "
                "A-Z a-z 0-9 _ -), the signing key first"
            )
        if any(kid == k for k, _ in keys):
            raise SettingsError(f"LIVE_SECRETS names key id {kid!r} twice")
        keys.append((kid, secret))
    if not keys:
        raise SettingsError("LIVE_SECRETS is set but names no key")
    return tuple(keys)


def _resolve_keys(settings: Settings, env: Mapping[str, str]) -> Settings:
    keys = settings.signing_keys
    if not keys and env.get("LIVE_SECRETS"):
        keys = parse_signing_keys(env["LIVE_SECRETS"])
    if keys:
        if settings.production:
            for kid, secret in keys:
                if secret.lower() in WEAK_SECRETS or len(secret) < MIN_SECRET_LENGTH:
                    raise SettingsError(
                        f"LIVE_SECRETS key {kid!r} is weak: each secret must be a random "
                        f"string of at least {MIN_SECRET_LENGTH} characters"
                    )
    else:
        keys = ((derived_key_id(settings.secret), settings.secret),)
    # Viewer ids derive from the identity secret: it must not move when keys rotate. Given
    # LIVE_SECRET beside LIVE_SECRETS (the secret of before the first rotation), it is that.
    identity = settings.identity_secret or env.get("LIVE_IDENTITY_SECRET", "") or settings.secret
    if not identity:
        if settings.production and len(keys) > 1:
            raise SettingsError(
                "several LIVE_SECRETS need LIVE_IDENTITY_SECRET (or LIVE_SECRET, the secret "
                "of before the rotation): viewer ids derive from it and must not change "
                "when keys rotate (docs/SECURITY.md, key rotation)"
            )
        identity = keys[0][1]
    return settings.with_changes(secret=keys[0][1], signing_keys=keys, identity_secret=identity)


def _resolve_secret(settings: Settings, env: Mapping[str, str]) -> str:
    given = settings.secret or env.get("LIVE_SECRET", "")
    if not given and (settings.signing_keys or env.get("LIVE_SECRETS")):
        return ""  # the keys of LIVE_SECRETS sign (_resolve_keys)
    if settings.production:
        if given.lower() in WEAK_SECRETS or len(given) < MIN_SECRET_LENGTH:
            raise SettingsError(
                "production mode needs LIVE_SECRET: a random string of at least "
                f"{MIN_SECRET_LENGTH} characters shared by every node "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return given
    if given:
        return given
    path = settings.data_dir / "secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(fresh + "\n")
    return fresh
