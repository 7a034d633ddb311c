"""Composition root for the command side: settings from the environment,
the event-sourced application, and the Services facade."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from commands import ledger_store
from commands.app import CloudApp
from commands.image_files import DirectoryImageStore
from commands.images import MAX_IMAGE_BYTES
from commands.lockout import (
    DEFAULT_LOCKOUT_SECONDS,
    DEFAULT_MAX_FAILURES,
    Lockout,
    PostgresLoginAttempts,
)
from commands.logs import LOG_FORMATS
from commands.passwords import Argon2Hasher
from commands.services import Services
from commands.tokens import TOKEN_LIFETIME_SECONDS
from domain.errors import InvalidInput
from domain.scheduling import SchedulerConfig

DEFAULT_STATE_DIR = ".state"
DEFAULT_MAX_JSON_BODY = 1 << 20
DEFAULT_PG_PORT, DEFAULT_REDIS_PORT = 5433, 6390
DEFAULT_MAX_IN_FLIGHT = 1000  # instance operations accepted but unfinished (boots: 429)
DEFAULT_SERVICE_DOWN_TIME = 60.0  # Nova's service_down_time
DEFAULT_POWER_SYNC_INTERVAL = 600.0  # Nova's sync_power_state_interval
UNKNOWN_DOMAIN_ACTIONS = ("log", "reap")
DEFAULT_SHUTDOWN_TIMEOUT = 60.0  # Nova's shutdown_timeout
# Nova's defaults: remove_unused_original_minimum_age_seconds, image_cache_manager_interval.
DEFAULT_IMAGE_CACHE_MAX_AGE, DEFAULT_IMAGE_CACHE_INTERVAL = 86400.0, 2400.0
DEFAULT_NETWORK_RECONCILE_INTERVAL = 60.0  # Neutron's agents resync about as often


@dataclass(frozen=True)
class DatabaseLimits:
    """Time limits on every database session, so that one stuck writer fails
    alone (the API answers 503) instead of holding the ledger for everyone."""

    statement_timeout_s: float = 10.0
    lock_timeout_s: float = 3.0
    idle_in_transaction_timeout_s: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DatabaseLimits:
        default = cls()

        def seconds(key: str, fallback: float) -> float:
            return float(environ.get(f"CLOUDLEDGER_DB_{key}") or fallback)

        return cls(
            statement_timeout_s=seconds("STATEMENT_TIMEOUT", default.statement_timeout_s),
            lock_timeout_s=seconds("LOCK_TIMEOUT", default.lock_timeout_s),
            idle_in_transaction_timeout_s=int(
                seconds("IDLE_TIMEOUT", default.idle_in_transaction_timeout_s)
            ),
        )

    def libpq_options(self) -> str:
        """The limits as libpq ``options``, for pools built outside the library."""
        limits = {
            "statement_timeout": int(self.statement_timeout_s * 1000),
            "lock_timeout": int(self.lock_timeout_s * 1000),
            "idle_in_transaction_session_timeout": self.idle_in_transaction_timeout_s * 1000,
        }
        return " ".join(f"-c {name}={value}" for name, value in limits.items())


@dataclass(frozen=True)
class Settings:
    """Everything a cloudledger process is configured with."""

    state_dir: Path
    database_url: str
    redis_url: str
    api_port: int
    admin_password: str
    database_limits: DatabaseLimits = DatabaseLimits()
    max_json_body_bytes: int = DEFAULT_MAX_JSON_BODY
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    max_project_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    token_lifetime_s: float = TOKEN_LIFETIME_SECONDS
    # Failed logins of one user name, within this many seconds, that lock it.
    lockout_failures: int = DEFAULT_MAX_FAILURES
    lockout_seconds: float = DEFAULT_LOCKOUT_SECONDS
    # The operator's policy overrides (api/policy.py); None: the defaults.
    policy_file: Path | None = None
    # Glance's property protections (domain/property_protections.py); None: none.
    property_protection_file: Path | None = None
    property_protection_rule_format: str = "roles"
    # Ports of the PostgreSQL and Redis that `cloudledger run` starts itself.
    private_pg_port: int = DEFAULT_PG_PORT
    private_redis_port: int = DEFAULT_REDIS_PORT
    # The scheduler's filters and weighers (domain/scheduling.py).
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    # Seconds a silent worker still counts as up (Nova's service_down_time).
    service_down_time_s: float = DEFAULT_SERVICE_DOWN_TIME
    # What runs guests on each compute host: libvirt's test driver (nothing
    # boots, fast) or real QEMU guests (workers/drivers/embedded_qemu.py).
    hypervisor: str = "test"
    # How often each compute host checks its guests against the ledger
    # (Nova's sync_power_state_interval).
    power_sync_interval_s: float = DEFAULT_POWER_SYNC_INTERVAL
    # What that check does with a domain the ledger does not place on its
    # host: "log" it (the default), or "reap" it (Nova's
    # running_deleted_instance_action).
    unknown_domain_action: str = "log"
    # How long a soft reboot waits for a real guest to shut down (Nova's shutdown_timeout).
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT
    # Largest image upload, in bytes (Glance's image_size_cap): 413 above.
    image_size_cap: int = MAX_IMAGE_BYTES
    # A compute host's cached image that no instance there used for this long
    # goes (Nova's remove_unused_original_minimum_age_seconds), checked this often.
    image_cache_max_age_s: float = DEFAULT_IMAGE_CACHE_MAX_AGE
    image_cache_interval_s: float = DEFAULT_IMAGE_CACHE_INTERVAL
    # Log lines: JSON objects (the default) or text, from this level up (commands/logs.py).
    log_format: str = "json"
    log_level: str = "INFO"
    # A file holding the secret Prometheus sends to GET /metrics (api/metrics.py).
    metrics_token_file: Path | None = None
    # What the network workers drive (docs/networking.md): in-memory fakes, or
    # Linux bridges, VXLAN, dnsmasq and nftables, each host a namespace of
    # this machine; the hosts in the order their underlay addresses follow;
    # how often each host compares what it has with the ledger.
    network_driver: str = "fake"
    network_hosts: tuple[str, ...] = ()
    network_reconcile_interval_s: float = DEFAULT_NETWORK_RECONCILE_INTERVAL
    # Block storage (docs/block-storage.md): the storage host's name, its
    # tgtd's control port and iSCSI portal (address:port), which `cloudledger
    # run` chooses and hands its volume worker; how often that worker checks
    # tgt against the ledger.
    storage_host: str = "storage-1"
    tgt_control_port: int = 0
    iscsi_portal: str = ""
    volume_reconcile_interval_s: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        state = Path(environ.get("CLOUDLEDGER_STATE_DIR", DEFAULT_STATE_DIR)).resolve()
        pg_port = int(environ.get("CLOUDLEDGER_PG_PORT", DEFAULT_PG_PORT))
        redis_port = int(environ.get("CLOUDLEDGER_REDIS_PORT", DEFAULT_REDIS_PORT))
        return cls(
            state_dir=state,
            database_url=environ.get(
                "CLOUDLEDGER_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{pg_port}/cloudledger"
            ),
            redis_url=environ.get("CLOUDLEDGER_REDIS_URL", f"redis://127.0.0.1:{redis_port}/0"),
            api_port=int(environ.get("CLOUDLEDGER_PORT", "8080")),
            admin_password=environ.get("CLOUDLEDGER_ADMIN_PASSWORD", "secret"),
            database_limits=DatabaseLimits.from_env(environ),
            max_json_body_bytes=int(
                environ.get("CLOUDLEDGER_MAX_JSON_BODY", DEFAULT_MAX_JSON_BODY)
            ),
            max_in_flight=int(environ.get("CLOUDLEDGER_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)),
            max_project_in_flight=int(
                environ.get("CLOUDLEDGER_MAX_PROJECT_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)
            ),
            token_lifetime_s=float(
                environ.get("CLOUDLEDGER_TOKEN_LIFETIME") or TOKEN_LIFETIME_SECONDS
            ),
            lockout_failures=int(
                environ.get("CLOUDLEDGER_LOCKOUT_FAILURES") or DEFAULT_MAX_FAILURES
            ),
            lockout_seconds=float(
                environ.get("CLOUDLEDGER_LOCKOUT_SECONDS") or DEFAULT_LOCKOUT_SECONDS
            ),
            policy_file=Path(environ["CLOUDLEDGER_POLICY_FILE"])
            if environ.get("CLOUDLEDGER_POLICY_FILE")
            else None,
            property_protection_file=Path(environ["CLOUDLEDGER_PROPERTY_PROTECTION_FILE"])
            if environ.get("CLOUDLEDGER_PROPERTY_PROTECTION_FILE")
            else None,
            property_protection_rule_format=environ.get(
                "CLOUDLEDGER_PROPERTY_PROTECTION_RULE_FORMAT", "roles"
            ),
            private_pg_port=pg_port,
            private_redis_port=redis_port,
            scheduler=_scheduler_config(environ),
            service_down_time_s=float(
                environ.get("CLOUDLEDGER_SERVICE_DOWN_TIME") or DEFAULT_SERVICE_DOWN_TIME
            ),
            hypervisor=_hypervisor(environ),
            power_sync_interval_s=float(
                environ.get("CLOUDLEDGER_POWER_SYNC_INTERVAL") or DEFAULT_POWER_SYNC_INTERVAL
            ),
            unknown_domain_action=_one_of(
                environ, "CLOUDLEDGER_UNKNOWN_DOMAIN_ACTION", UNKNOWN_DOMAIN_ACTIONS
            ),
            shutdown_timeout_s=float(
                environ.get("CLOUDLEDGER_SHUTDOWN_TIMEOUT") or DEFAULT_SHUTDOWN_TIMEOUT
            ),
            image_size_cap=int(environ.get("CLOUDLEDGER_IMAGE_SIZE_CAP") or MAX_IMAGE_BYTES),
            image_cache_max_age_s=float(
                environ.get("CLOUDLEDGER_IMAGE_CACHE_MAX_AGE") or DEFAULT_IMAGE_CACHE_MAX_AGE
            ),
            image_cache_interval_s=float(
                environ.get("CLOUDLEDGER_IMAGE_CACHE_INTERVAL") or DEFAULT_IMAGE_CACHE_INTERVAL
            ),
            log_format=_log_format(environ),
            log_level=environ.get("CLOUDLEDGER_LOG_LEVEL") or "INFO",
            metrics_token_file=Path(environ["CLOUDLEDGER_METRICS_TOKEN_FILE"])
            if environ.get("CLOUDLEDGER_METRICS_TOKEN_FILE")
            else None,
            network_driver=_one_of(environ, "CLOUDLEDGER_NETWORK_DRIVER", NETWORK_DRIVERS),
            network_hosts=tuple(
                h for h in (environ.get("CLOUDLEDGER_NETWORK_HOSTS") or "").split(",") if h
            ),
            network_reconcile_interval_s=float(
                environ.get("CLOUDLEDGER_NETWORK_RECONCILE_INTERVAL")
                or DEFAULT_NETWORK_RECONCILE_INTERVAL
            ),
            storage_host=environ.get("CLOUDLEDGER_STORAGE_HOST") or "storage-1",
            tgt_control_port=int(environ.get("CLOUDLEDGER_TGT_CONTROL_PORT") or 0),
            iscsi_portal=environ.get("CLOUDLEDGER_ISCSI_PORTAL", ""),
            volume_reconcile_interval_s=float(
                environ.get("CLOUDLEDGER_VOLUME_RECONCILE_INTERVAL") or 60.0
            ),
        )

    @property
    def guest_image_dir(self) -> Path:
        """The kernel and initramfs real guests boot (ops/guest_images.py)."""
        return self.state_dir / "guest-images"

    @property
    def image_dir(self) -> Path:
        return self.state_dir / "images"

    @property
    def storage_key_file(self) -> Path:
        """The key volume CHAP secrets derive from (workers/drivers/chap.py):
        every host that exports or attaches volumes reads it."""
        return self.state_dir / "storage.key"

    @property
    def volume_dir(self) -> Path:
        """The storage host's volume and snapshot files."""
        return self.state_dir / "storage" / self.storage_host / "volumes"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def service_password_file(self, role: str) -> Path:
        """Where a worker role's service password is kept (mode 0600): made
        at first start by ops/service_users.py, read by that role's workers."""
        return self.state_dir / "service-credentials" / f"{role}.password"

    def service_password(self, role: str) -> str:
        path = self.service_password_file(role)
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            raise SystemExit(
                f"no service credentials for {role} at {path}: `cloudledger run` makes them"
            ) from None

    def token_key(self) -> bytes:
        """The token-signing key, created on first use; held only by the API
        processes, as Keystone's fernet keys by its nodes (workers log in
        with service credentials instead)."""
        path = self.state_dir / "token.key"
        if not path.exists():
            # Write a complete file under a private name, then link it into
            # place: concurrent first starts agree on one key, none reads half.
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".token.key.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
            tmp.unlink()
        return bytes.fromhex(path.read_text().strip())


def eventsourcing_env(
    database_url: str,
    *,
    pool_size: int = 5,
    create_table: bool = False,
    limits: DatabaseLimits = DatabaseLimits(),
) -> dict[str, str]:
    """The eventsourcing library's configuration for our PostgreSQL URL."""
    parts = conninfo_to_dict(database_url)
    return {
        # The library's PostgreSQL persistence with the ledger's own append.
        "PERSISTENCE_MODULE": "commands.ledger_store:LedgerFactory",
        "POSTGRES_DBNAME": str(parts.get("dbname", "cloudledger")),
        "POSTGRES_HOST": str(parts.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(parts.get("port", "5432")),
        "POSTGRES_USER": str(parts.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(parts.get("password", "")),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        # Pooled connections are checked before use by commands/ledger_store.py.
        "POSTGRES_PRE_PING": "n",
        "CREATE_TABLE": "y" if create_table else "n",
        ledger_store.STATEMENT_TIMEOUT_MS: str(int(limits.statement_timeout_s * 1000)),
        ledger_store.LOCK_TIMEOUT_MS: str(int(limits.lock_timeout_s * 1000)),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(limits.idle_in_transaction_timeout_s),
        # Keep hot aggregates (quotas, hosts) in memory; each get still
        # fast-forwards from the database, so other processes' writes are seen.
        "AGGREGATE_CACHE_MAXSIZE": "5000",
    }


def build_app(
    database_url: str,
    *,
    pool_size: int = 5,
    create_table: bool = False,
    limits: DatabaseLimits = DatabaseLimits(),
) -> CloudApp:
    return CloudApp(
        eventsourcing_env(
            database_url, pool_size=pool_size, create_table=create_table, limits=limits
        )
    )


def build_services(settings: Settings, *, pool_size: int = 10) -> Services:
    app = build_app(settings.database_url, pool_size=pool_size, limits=settings.database_limits)
    recorder = app.recorder
    assert isinstance(recorder, ledger_store.LedgerRecorder)
    lockout = Lockout(
        PostgresLoginAttempts(recorder.datastore),
        settings.lockout_failures,
        settings.lockout_seconds,
    )
    return Services(
        app,
        Argon2Hasher(),
        DirectoryImageStore(settings.image_dir),
        lockout,
        image_size_cap=settings.image_size_cap,
        staging_store=DirectoryImageStore(settings.state_dir / "image-staging"),
    )


def _scheduler_config(environ: Mapping[str, str]) -> SchedulerConfig:
    try:
        return SchedulerConfig.from_settings(
            environ.get("CLOUDLEDGER_SCHEDULER_FILTERS", ""),
            environ.get("CLOUDLEDGER_RAM_WEIGHT_MULTIPLIER", "1.0"),
        )
    except InvalidInput as exc:  # a process must not start half-configured
        raise SystemExit(f"scheduler settings: {exc.message}") from None


HYPERVISORS = ("test", "qemu")
NETWORK_DRIVERS = ("fake", "linux")


def _hypervisor(environ: Mapping[str, str]) -> str:
    return _one_of(environ, "CLOUDLEDGER_HYPERVISOR", HYPERVISORS)


def _one_of(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """The setting, or the first choice (the default) when unset."""
    chosen = environ.get(name) or choices[0]
    if chosen not in choices:
        raise SystemExit(f"{name}={chosen!r}: one of {', '.join(choices)}")
    return chosen


def _log_format(environ: Mapping[str, str]) -> str:
    chosen = environ.get("CLOUDLEDGER_LOG_FORMAT") or "json"
    if chosen not in LOG_FORMATS:
        raise SystemExit(f"CLOUDLEDGER_LOG_FORMAT={chosen!r}: one of {', '.join(LOG_FORMATS)}")
    return chosen
