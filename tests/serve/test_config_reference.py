"""Config files, the host-clock mapping, chronyc tracking parsing, upstream addresses."""

from __future__ import annotations

import errno
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import ConfigError
from orchestrator.ntp.ratelimit import RateLimitConfig
from orchestrator.ntp.server import SystemState
from orchestrator.serve.config import ServerConfig, build_policy, load_config_file
from orchestrator.serve.hostclock import (
    STA_UNSYNC,
    TIME_INS,
    TIME_OK,
    ChronyTracking,
    KernelClock,
    parse_tracking_csv,
)
from orchestrator.serve.reference import REFID_HOST, host_state, parse_server
from orchestrator.serve.udp import _bind_error

TOML = """\
listen = ["127.0.0.1"]
port = 1123
reference = "local"
stratum = 6
allow = ["10.20.0.0/16", "127.0.0.1"]
deny = ["10.20.99.0/24"]
deny_kod = true
keys = "ntp.keys"

[ratelimit]
interval = 1
burst = 4
leak = 0
"""


def test_toml_config(tmp_path: Path) -> None:
    (tmp_path / "ntp.keys").write_text("1 SHA1 HEX:" + "ab" * 20 + "\n")
    path = tmp_path / "server.toml"
    path.write_text(TOML)
    cfg = load_config_file(path)
    assert (cfg.listen, cfg.port, cfg.reference, cfg.stratum) == (("127.0.0.1",), 1123, "local", 6)
    assert cfg.ratelimit == RateLimitConfig(interval=1, burst=4, leak=0, kod=True)
    assert cfg.keys_file == tmp_path / "ntp.keys"  # relative to the config file
    policy = build_policy(cfg)
    assert list(policy.keys) == [1] and policy.deny_kod


def test_yaml_config_can_turn_ratelimit_off(tmp_path: Path) -> None:
    path = tmp_path / "server.yaml"
    path.write_text(
        "reference: upstream\nupstream: ['127.0.0.1:1123']\nratelimit:\n  enabled: no\n"
    )
    cfg = load_config_file(path)
    assert cfg.reference == "upstream" and cfg.upstream == ("127.0.0.1:1123",)
    assert cfg.ratelimit is None
    assert ServerConfig().ratelimit == RateLimitConfig()  # on by default


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("s.toml", "stratum = 16\n", ":1: stratum: Input should be less than or equal to 15"),
        ("s.toml", "port = 1\ncolour = 1\n", ":2: unknown setting 'colour' (settings"),
        ("s.toml", "[server]\nport = 1\n", ":1: unknown setting 'server' (settings"),
        ("s.toml", "[ratelimit]\nfoo = 1\n", ":2: unknown setting 'ratelimit.foo' (ratelimit"),
        ("s.toml", "port = \n", ": not valid TOML"),
        ("s.yaml", "- a list\n", ": expected a mapping"),
        ("s.yaml", "reference: sky\n", ":1: reference: Input should be 'host', 'upstream' or"),
    ],
)
def test_bad_config_names_file_line_and_key(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert str(err.value).startswith(f"{path}{message}"), str(err.value)


def test_policy_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="require_auth needs a keys file"):
        build_policy(ServerConfig(require_auth=True))
    with pytest.raises(ConfigError, match="not an address"):
        build_policy(ServerConfig(allow=("10.0.0.0/33",)))
    (tmp_path / "k").write_text("1 MD5 HEX:zz\n")
    with pytest.raises(ConfigError, match=r"k:1: HEX: key"):
        build_policy(ServerConfig(keys_file=tmp_path / "k"))


def test_bind_error_messages() -> None:
    eacces = _bind_error(OSError(errno.EACCES, "Permission denied"), "0.0.0.0", 123)
    assert "permission denied" in str(eacces) and "CAP_NET_BIND_SERVICE" in str(eacces)
    inuse = _bind_error(OSError(errno.EADDRINUSE, "in use"), "::", 123)
    assert str(inuse).startswith("cannot listen on [::]:123: the port is already in use")


# chronyc -c tracking from chronyd 4.3 on this machine (`local stratum 8`), and the
# Debian chrony 4.3 columns as documented in chronyc(1) `tracking`.
TRACKING_LOCAL = (
    "7F7F0101,,8,1795318860.006588847,0.000000000,0.000000000,0.000000000,"
    "0.000,0.000,0.000,0.000000000,0.000000000,0.0,Normal"
)
TRACKING_UNSYNC = "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised"  # noqa: E501


def test_parse_chronyc_tracking_csv() -> None:
    t = parse_tracking_csv(TRACKING_LOCAL)
    assert t is not None
    assert t.ref_id == bytes.fromhex("7F7F0101") and t.stratum == 8
    assert t.ref_time_ns == 1795318860_006588847 and t.synchronised and t.leap == 0
    u = parse_tracking_csv(TRACKING_UNSYNC)
    assert u is not None and not u.synchronised and u.leap == 3
    assert parse_tracking_csv("506 Cannot talk to daemon") is None


# chrony 4.3 `chronyc -c -n tracking` of a `chronyd -x` synchronised to our local-mode
# server at 127.0.0.1 (stratum 10): stratum 11, "System time" 3.6 us slow of NTP time.
TRACKING_X = (
    "7F000001,127.0.0.1,11,1795322772.134839595,0.000003619,-0.000000182,0.000003339,"
    "-0.648,-0.017,0.961,0.000000258,0.000022693,0.3,Normal"
)
SYNCED_KERNEL = KernelClock(TIME_OK, 0, 0.05, 0.001)
UNSYNCED_KERNEL = KernelClock(5, STA_UNSYNC, 16.0, 16.0)  # TIME_ERROR, as here and under -x
NOW = 1_800_000_000 * 10**9


def _tracking(line: str = TRACKING_X, **changes: Any) -> ChronyTracking:
    t = parse_tracking_csv(line)
    assert t is not None
    return replace(t, **changes)


def _host(kernel: KernelClock | None, tracking: ChronyTracking | None) -> SystemState:
    return host_state(kernel, tracking, now_ns=NOW, precision=-20, fallback_stratum=10)


def test_parse_chronyd_x_tracking_keeps_the_system_clock_offset() -> None:
    t = _tracking()
    assert (t.ref_id, t.name, t.stratum, t.leap) == (bytes([127, 0, 0, 1]), "127.0.0.1", 11, 0)
    assert t.system_offset_s == pytest.approx(3.619e-6)
    assert (t.root_delay_s, t.root_dispersion_s) == (0.000000258, 0.000022693)


@pytest.mark.parametrize("kernel", [UNSYNCED_KERNEL, SYNCED_KERNEL, None])
def test_synchronised_chronyd_wins_over_the_kernel_flag(kernel: KernelClock | None) -> None:
    # chronyd -x never clears STA_UNSYNC: its tracking, not the flag, says we are synchronised
    t = _tracking()
    s = _host(kernel, t)
    assert s.synchronised and (s.leap, s.stratum, s.ref_id) == (0, 11, bytes([127, 0, 0, 1]))
    assert s.ref_time_ns == t.ref_time_ns and s.root_delay_s == t.root_delay_s
    # the offset chronyd -x measures but does not correct is an error we serve
    assert s.root_dispersion_s == pytest.approx(t.root_dispersion_s + t.system_offset_s)
    # ...growing by 15 ppm per second since chronyd's last update
    later = s.root_dispersion_at(t.ref_time_ns + 10 * 10**9)
    assert later == pytest.approx(s.root_dispersion_s + 150e-6)


@pytest.mark.parametrize("kernel", [UNSYNCED_KERNEL, SYNCED_KERNEL])
def test_unsynchronised_chronyd_wins_over_the_kernel_flag(kernel: KernelClock) -> None:
    s = _host(kernel, parse_tracking_csv(TRACKING_UNSYNC))
    assert (s.leap, s.stratum, s.synchronised) == (3, 16, False)


@pytest.mark.parametrize("offset_s", [0.5, -0.2])
def test_chronyd_measuring_a_far_clock_makes_us_unsynchronised(offset_s: float) -> None:
    s = _host(UNSYNCED_KERNEL, _tracking(system_offset_s=offset_s))
    assert (s.leap, s.stratum) == (3, 16)
    assert _host(UNSYNCED_KERNEL, _tracking(system_offset_s=offset_s / 10)).synchronised


def test_leap_second_from_chronyd_or_the_kernel() -> None:
    assert _host(UNSYNCED_KERNEL, _tracking(leap_status="Insert second")).leap == 1
    assert _host(SYNCED_KERNEL, _tracking(leap_status="Delete second")).leap == 2
    assert _host(KernelClock(TIME_INS, 0, 0.01, 0.0), _tracking()).leap == 1


def test_without_chronyd_the_kernel_decides() -> None:
    s = _host(SYNCED_KERNEL, None)
    assert (s.stratum, s.ref_id, s.root_dispersion_s, s.ref_time_ns) == (10, REFID_HOST, 0.05, NOW)
    assert _host(KernelClock(TIME_INS, 0, 0.01, 0.0), None).leap == 1  # kernel-armed leap
    assert (_host(UNSYNCED_KERNEL, None).leap, _host(None, None).leap) == (3, 3)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("192.0.2.1", ("192.0.2.1", 123)),
        ("192.0.2.1:1123", ("192.0.2.1", 1123)),
        ("::1", ("::1", 123)),
        ("[::1]:1123", ("::1", 1123)),
    ],
)
def test_parse_upstream(text: str, want: tuple[str, int]) -> None:
    assert parse_server(text) == want


@pytest.mark.parametrize("text", ["ntp.example.org", "192.0.2.1:x", "[::1]:0"])
def test_parse_upstream_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_server(text)


def test_world_readable_keys_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = tmp_path / "ntp.keys"
    keys.write_text("1 MD5 HEX:" + "ab" * 16 + "\n")
    keys.chmod(0o644)
    with caplog.at_level("WARNING"):
        build_policy(ServerConfig(keys_file=keys))
    assert "readable by every user" in caplog.text and "abab" not in caplog.text
    caplog.clear()
    keys.chmod(0o600)
    build_policy(ServerConfig(keys_file=keys))
    assert "readable" not in caplog.text
