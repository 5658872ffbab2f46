"""Server configuration: a TOML or YAML file, command-line overrides, validated once.

Example (`server.toml`; the same keys work in YAML):

    listen = ["0.0.0.0", "::"]
    port = 123
    reference = "host"          # host | upstream | local
    stratum = 10                # local reference (and host without chronyd)
    upstream = ["192.0.2.10", "[2001:db8::10]:123"]
    max_offset = 0.128          # upstream/host: unsynchronised beyond this clock offset (s)
    chronyc_socket = "/run/chrony/chronyd.sock"  # host: the chronyd to ask (default: chronyc's)
    allow = ["10.20.0.0/16"]    # default: loopback + the inventory's site networks
    deny = []
    deny_kod = false            # answer denied clients with KoD DENY
    keys = "/etc/orch/ntp.keys" # chrony/ntpd `ID TYPE KEY` file
    require_auth = false
    client_log = "/var/lib/orch/server-clients.sqlite"
    workers = 0                 # 0 = one per CPU core
    rcvbuf_bytes = 4194304      # receive queue per socket (capped by net.core.rmem_max)
    tx_compensation = true      # add the measured read-to-wire delay to the transmit timestamp
    nts_cert = "/etc/orch/nts.crt"  # NTS (RFC 8915) on: NTS-KE server certificate (chain), PEM
    nts_key = "/etc/orch/nts.key"   # ... and its private key
    nts_port = 4460             # NTS-KE TCP port
    nts_rotate = 604800         # rotate the cookie master keys every N seconds (2 old ones kept)
    nts_keys_file = "/var/lib/orch/nts-keys.json"  # master keys kept over restarts (0600)

    [ratelimit]                 # like chrony's `ratelimit`
    enabled = true
    interval = 3                # log2 s between requests on average
    burst = 8
    leak = 2                    # 1 in 2**leak limited requests still answered
    kod = true
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator import paths
from orchestrator.errors import ConfigError
from orchestrator.ntp.access import LOOPBACK, AccessList, AccessRuleError
from orchestrator.ntp.auth import KeyStore, parse_keys_file
from orchestrator.ntp.ratelimit import RateLimitConfig
from orchestrator.ntp.server import ServerPolicy
from orchestrator.serve.reference import parse_server

ReferenceMode = Literal["host", "upstream", "local"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerConfig:
    """Everything `orch server run` and `NtpServerRunner` need."""

    listen: tuple[str, ...] = ("127.0.0.1",)
    port: int = 123
    reference: ReferenceMode = "host"
    stratum: int = 10
    upstream: tuple[str, ...] = ()
    allow: tuple[str, ...] = LOOPBACK
    deny: tuple[str, ...] = ()
    deny_kod: bool = False
    ratelimit: RateLimitConfig | None = field(default_factory=RateLimitConfig)
    keys_file: Path | None = None
    require_auth: bool = False
    client_log: Path | None = None  # None: orchestrator.paths.client_log_db()
    persist_client_log: bool = True
    workers: int = 1  # 0 = one per CPU core
    max_clients: int = 4096
    max_offset_s: float = 0.128  # upstream/host: unsynchronised beyond this clock offset
    chronyc_socket: Path | None = None  # host: a chronyd command socket other than the default
    flush_interval_s: float = 2.0
    rcvbuf_bytes: int = 4 << 20  # per-socket receive queue; 0 = kernel default
    tx_compensation: bool = True  # add the measured T3-to-wire delay to T3 (worker.TxDelay)
    nts_cert: Path | None = None  # NTS on when set (with nts_key)
    nts_key: Path | None = None
    nts_port: int = 4460
    nts_rotate_s: float = 7 * 86400.0
    nts_keep_keys: int = 2  # old master keys kept: cookies stay valid >= this many rotations
    nts_keys_file: Path | None = None  # None: orchestrator.paths.data_dir()/nts-keys.json
    nts_ntp_port: int | None = None  # the NTP port NTS-KE names (None: ours; e.g. a forward)

    @property
    def nts(self) -> bool:
        return self.nts_cert is not None or self.nts_key is not None

    @property
    def nts_keys_path(self) -> Path:
        return self.nts_keys_file or paths.data_dir() / "nts-keys.json"

    @property
    def client_log_path(self) -> Path:
        return self.client_log or paths.client_log_db()

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else max(1, os.cpu_count() or 1)

    def with_overrides(self, **values: Any) -> ServerConfig:
        """A copy with the given fields replaced (None values ignored)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


class _RateLimitFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    interval: int = Field(3, ge=-19, le=12)
    burst: int = Field(8, ge=1, le=255)
    leak: int = Field(2, ge=0, le=4)
    kod: bool = True
    max_clients: int = Field(65536, ge=1)


class _ServerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listen: list[str] | None = None
    port: int | None = Field(None, ge=0, le=65535)
    reference: ReferenceMode | None = None
    stratum: int | None = Field(None, ge=1, le=15)
    upstream: list[str] | None = None
    allow: list[str] | None = None
    deny: list[str] | None = None
    deny_kod: bool | None = None
    ratelimit: _RateLimitFile | None = None
    keys: Path | None = None
    require_auth: bool | None = None
    client_log: Path | None = None
    workers: int | None = Field(None, ge=0, le=256)
    max_clients: int | None = Field(None, ge=1)
    max_offset: float | None = Field(None, gt=0)
    chronyc_socket: Path | None = None
    rcvbuf_bytes: int | None = Field(None, ge=0, le=1 << 30)
    tx_compensation: bool | None = None
    nts_cert: Path | None = None
    nts_key: Path | None = None
    nts_port: int | None = Field(None, ge=0, le=65535)
    nts_rotate: float | None = Field(None, ge=1)
    nts_keys_file: Path | None = None


def _line_of(text: str, key: str) -> int | None:
    """The first line that sets `key` (TOML `key =`, `[key]`; YAML `key:`), for messages:
    the parsers validate values after parsing, when positions are gone."""
    if not key:
        return None
    pattern = re.compile(rf"^\s*(?:\[\s*{re.escape(key)}\s*\]|{re.escape(key)}\s*[=:])")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def load_config_file(path: Path, base: ServerConfig | None = None) -> ServerConfig:
    """Read a TOML (.toml) or YAML file over `base` (defaults). ConfigError names file and key."""
    base = base or ServerConfig()
    text = _read_text(path, "the server config", "give a TOML or YAML server config")
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = "TOML" if path.suffix == ".toml" else "YAML"
        raise ConfigError(f"{path}: not valid {kind}: {first}") from None
    except RecursionError:  # both parsers follow nested brackets recursively
        raise ConfigError(f"{path}: nested too deeply to be a server config") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        f = _ServerFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        where = ".".join(loc)
        at = f"{path}:{line}" if (line := _line_of(text, loc[-1] if loc else "")) else f"{path}"
        if err["type"] == "extra_forbidden":
            nested = loc[:1] == ["ratelimit"]
            model: type[BaseModel] = _RateLimitFile if nested else _ServerFile
            scope = "ratelimit settings" if nested else "settings (top-level keys)"
            known = ", ".join(model.model_fields)
            raise ConfigError(f"{at}: unknown setting '{where}' ({scope}: {known})") from None
        raise ConfigError(f"{at}: {where}: {err['msg']}") from None
    rl = f.ratelimit
    ratelimit: RateLimitConfig | bool | None = None
    if rl is not None:
        ratelimit = (
            RateLimitConfig(rl.interval, rl.burst, rl.leak, rl.kod, rl.max_clients)
            if rl.enabled
            else False
        )
    keys, nts_cert, nts_key, nts_keys_file = (
        p if p is None or p.is_absolute() else path.parent / p
        for p in (f.keys, f.nts_cert, f.nts_key, f.nts_keys_file)
    )
    cfg = base.with_overrides(
        listen=tuple(f.listen) if f.listen is not None else None,
        port=f.port,
        reference=f.reference,
        stratum=f.stratum,
        upstream=tuple(f.upstream) if f.upstream is not None else None,
        allow=tuple(f.allow) if f.allow is not None else None,
        deny=tuple(f.deny) if f.deny is not None else None,
        deny_kod=f.deny_kod,
        keys_file=keys,
        require_auth=f.require_auth,
        client_log=f.client_log,
        workers=f.workers,
        max_clients=f.max_clients,
        max_offset_s=f.max_offset,
        chronyc_socket=f.chronyc_socket,
        rcvbuf_bytes=f.rcvbuf_bytes,
        tx_compensation=f.tx_compensation,
        nts_cert=nts_cert,
        nts_key=nts_key,
        nts_port=f.nts_port,
        nts_rotate_s=f.nts_rotate,
        nts_keys_file=nts_keys_file,
    )
    if ratelimit is False:
        cfg = replace(cfg, ratelimit=None)
    elif isinstance(ratelimit, RateLimitConfig):
        cfg = replace(cfg, ratelimit=ratelimit)
    return cfg


def _read_text(path: Path, what: str, hint: str) -> str:
    """A UTF-8 text file, or a ConfigError naming it. An undecodable byte is located,
    never quoted (in a keys file it may be key material)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8)", hint=hint
        ) from None


def load_keys(path: Path) -> KeyStore:
    text = _read_text(
        path, "the keys file", "give a chrony/ntpd keys file, one 'ID TYPE KEY' per line"
    )
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the keys file: {exc.strerror}") from None
    if mode & 0o004:
        log.warning("keys file %s is readable by every user (chmod 600 it)", path)
    return parse_keys_file(text, str(path))


def check_config(config: ServerConfig) -> AccessList:
    """Refuse a configuration the server cannot run with (without reading any file), so
    that `server run` fails at once and `server install-unit` never writes a unit that
    crash-loops. Returns the access list the allow/deny rules make."""
    if not 1 <= config.stratum <= 15:
        raise ConfigError(f"--stratum {config.stratum} is out of range", hint="use 1..15")
    if config.reference == "upstream":
        if not config.upstream:
            raise ConfigError(
                "--reference upstream needs at least one --upstream ADDR",
                hint="give --upstream ADDR (repeatable), or --reference host or local",
            )
        for server in config.upstream:
            parse_server(server)
    try:
        return AccessList.from_rules(config.allow, config.deny)
    except AccessRuleError as exc:
        raise ConfigError(f"allow/deny: {exc}") from None


def build_policy(config: ServerConfig) -> ServerPolicy:
    """The pure server policy for a configuration (reads the keys file)."""
    access = check_config(config)
    keys = load_keys(config.keys_file) if config.keys_file is not None else KeyStore()
    if config.require_auth and not keys:
        raise ConfigError("require_auth needs a keys file", hint="pass --keys FILE")
    return ServerPolicy(
        access=access,
        ratelimit=config.ratelimit,
        keys=keys,
        require_auth=config.require_auth,
        deny_kod=config.deny_kod,
        max_clients=config.max_clients,
    )
