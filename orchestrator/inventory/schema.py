"""The shape of one inventory entry (a host, a group or the defaults), as pydantic models.

Every field is optional here because any layer may leave a value to the next one
(host -> groups -> defaults). What must be present after inheritance is checked in
resolve.py. Models are strict (no silent "22" -> 22) and refuse unknown keys.

Custom checks raise PydanticCustomError with type `orch`; their messages are written
to follow the field path, e.g. `platform` + `'ios' unknown (expected one of ...)`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from orchestrator.models import INVENTORY_PLATFORMS

ORCH_ERROR = "orch"
KEY_ALGORITHMS: tuple[str, ...] = ("md5", "sha1", "aes128")

_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError(ORCH_ERROR, message)


def is_address(value: str) -> bool:
    """An IPv4/IPv6 address or an RFC 1123 host name."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253 or re.fullmatch(r"[0-9.]+", name):
        return False  # all-numeric names are mistyped IPv4 addresses, not host names
    return all(_HOST_LABEL.fullmatch(label) for label in name.split("."))


def _address(value: str) -> str:
    if not is_address(value):
        raise _fail(f"{value!r} is not a valid IP address or host name")
    return value


def _platform(value: str) -> str:
    if value not in INVENTORY_PLATFORMS:
        raise _fail(f"{value!r} unknown (expected one of {', '.join(INVENTORY_PLATFORMS)})")
    return value


def is_name(value: str) -> bool:
    """Host, group and site names: letters, digits, '_', '.', '-' (no spaces, no slashes)."""
    return bool(_NAME.fullmatch(value))


def _name(value: str) -> str:
    if not is_name(value):
        raise _fail(f"{value!r} is not a valid name (letters, digits, '_', '.', '-')")
    return value


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise _fail(f"{value!r} is not a valid CIDR network ({exc})") from None


def _key_type(value: str) -> str:
    if value not in KEY_ALGORITHMS:
        raise _fail(f"{value!r} unknown (expected one of {', '.join(KEY_ALGORITHMS)})")
    return value


Address = Annotated[str, AfterValidator(_address)]
Platform = Annotated[str, AfterValidator(_platform)]
Name = Annotated[str, AfterValidator(_name)]
Network = Annotated[str, AfterValidator(_network)]
KeyType = Annotated[str, AfterValidator(_key_type)]
Port = Annotated[int, Field(ge=1, le=65535)]
PollExponent = Annotated[int, Field(ge=3, le=17)]  # log2 seconds, as IOS/chrony/ntpd take it
KeyId = Annotated[int, Field(ge=1, le=65535)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NtpServerModel(_Strict):
    address: Address
    key: KeyId | None = None
    prefer: bool = False
    iburst: bool = True
    minpoll: PollExponent | None = None
    maxpoll: PollExponent | None = None
    port: Port = 123
    nts: bool = False  # Network Time Security (RFC 8915): chrony's `nts` option
    nts_port: Port | None = None  # NTS-KE port when the server's is not 4460

    @model_validator(mode="after")
    def _poll_range(self) -> NtpServerModel:
        if self.minpoll is not None and self.maxpoll is not None and self.minpoll > self.maxpoll:
            raise _fail(f"minpoll {self.minpoll} is greater than maxpoll {self.maxpoll}")
        return self


class NtpKeyModel(_Strict):
    id: KeyId
    type: KeyType
    secret: str  # a reference such as ${env:NTP_KEY_10}; resolved into models.Secret
    trusted: bool = True


class ThresholdsModel(_Strict):
    max_offset_ms: Annotated[float, Field(gt=0)] | None = None
    max_stratum: Annotated[int, Field(ge=1, le=15)] | None = None
    min_reach: Annotated[int, Field(ge=0, le=8)] | None = None  # answered polls of the last 8


class NtpPolicyModel(_Strict):
    servers: list[NtpServerModel] | None = None
    source_interface: str | None = None
    vrf: str | None = None
    update_calendar: bool | None = None
    authenticate: bool | None = None
    keys: list[NtpKeyModel] | None = None
    thresholds: ThresholdsModel | None = None
    nts_ca: str | None = None  # PEM file of the CA (or self-signed) certificate NTS trusts

    @model_validator(mode="after")
    def _unique(self) -> NtpPolicyModel:
        addresses = [s.address for s in self.servers or ()]
        repeated = sorted({a for a in addresses if addresses.count(a) > 1})
        if repeated:
            raise _fail(f"servers lists {', '.join(repeated)} more than once")
        ids = [k.id for k in self.keys or ()]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise _fail(f"keys defines id {', '.join(map(str, twice))} more than once")
        return self


class SiteModel(_Strict):
    networks: list[Network] = []
    description: str | None = None


class SshModel(_Strict):
    """`data.ssh`: how orch's SSH client may talk to the host."""

    # also offer the SHA-1 key exchanges, ssh-rsa host keys and CBC ciphers that old
    # IOS 12.x/15.x, CatOS and NX-OS need; off by default
    legacy_algorithms: bool = False


class DataModel(_Strict):
    """The keys of `data:` that orch understands. Other text keys are kept as extras."""

    site: Name | None = None
    ntp: NtpPolicyModel | None = None
    sites: dict[str, SiteModel] | None = None  # defaults.yaml only
    enable_secret: str | None = None
    ssh_key_file: str | None = None
    ssh: SshModel | None = None


DATA_KEYS: tuple[str, ...] = tuple(DataModel.model_fields)


class ConnectionOptionsModel(_Strict):
    """Nornir's per-connection overrides; validated so that Nornir files load, not used yet."""

    hostname: str | None = None
    port: Port | None = None
    username: str | None = None
    password: str | None = None
    platform: str | None = None
    extras: dict[str, Any] | None = None


class DefaultsModel(_Strict):
    hostname: Address | None = None
    platform: Platform | None = None
    port: Port | None = None
    username: str | None = None
    password: str | None = None
    data: DataModel | None = None
    connection_options: dict[str, ConnectionOptionsModel] | None = None


class EntryModel(DefaultsModel):
    """A host or a group: the defaults' keys plus the groups it belongs to."""

    groups: list[Name] | None = None


SECRET_FIELDS = frozenset({"password", "enable_secret", "secret"})
