"""NTS push to Linux chrony hosts (the `nts` option, the CA file, `ntstrustedcerts`) in the
sandbox where the driver's file commands really run, and how verify judges NTS."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from orchestrator.compliance import evaluate, index_client_log
from orchestrator.drivers.linux import LinuxDriver
from orchestrator.drivers.linux.chrony import AUTHDATA as CHRONY_AUTHDATA
from orchestrator.drivers.linux.chrony import chrony_server_options, nts_sources
from orchestrator.drivers.linux.files import BEGIN, END
from orchestrator.drivers.linux.strategy import configured_in, server_line
from orchestrator.models import ClientLogEntry, DesiredNtp, NtpServerSpec, Verdict
from orchestrator.serve.ntscert import self_signed

from .test_linux_driver import DEBIAN_CHRONY_CONF, NTPSEC_CONF, SandboxSession, make_host, push

CA = self_signed(["ntp.example.org"])[0].decode()
NTS_SERVER = NtpServerSpec("ntp.example.org", nts=True, nts_port=4461)
DESIRED = DesiredNtp(servers=(NTS_SERVER,), nts_ca=CA)
CHRONY_PROBE = "uid=0\ncomm=chronyd\nunit=chrony\nfile=/etc/chrony/chrony.conf\n"

# chronyc -N authdata of chrony 4.3 against orch's server (captured in test_nts_real.py)
AUTHDATA = """\
Name/IP address             Mode KeyID Type KLen Last Atmp  NAK Cook CLen
=========================================================================
ntp.example.org              NTS     1   15  256    7    0    0    8  100
10.0.0.9                       -     0    0    0    -    0    0    0    0
"""


def test_server_line_and_read_back() -> None:
    line = server_line(NTS_SERVER, port=True, extra=chrony_server_options(NTS_SERVER))
    assert line == "server ntp.example.org iburst nts ntsport 4461"
    (spec,) = configured_in("/etc/chrony/sources.d/orch.sources", line + "\n").servers
    assert spec == NTS_SERVER
    assert "nts" not in server_line(NTS_SERVER, port=False)  # what ntpd gets


def test_debian_chrony_gets_sources_ca_file_and_trust_in_confdir(tmp_path: Path) -> None:
    session = SandboxSession(tmp_path, CHRONY_PROBE)
    session.put("/etc/chrony/chrony.conf", DEBIAN_CHRONY_CONF)
    driver = LinuxDriver()
    _, changed = push(driver, session, DESIRED)
    assert changed
    sources = session.file("/etc/chrony/sources.d/orch.sources")
    assert sources is not None and b"server ntp.example.org iburst nts ntsport 4461\n" in sources
    ca = session.file("/etc/chrony/orch-nts-ca.crt")
    assert ca is not None and CA.encode() in ca
    trust = session.file("/etc/chrony/conf.d/orch-nts.conf")
    assert trust is not None and b"ntstrustedcerts /etc/chrony/orch-nts-ca.crt\n" in trust
    assert session.file("/etc/chrony/chrony.conf") == DEBIAN_CHRONY_CONF.encode()  # untouched
    assert session.daemon_commands == ["systemctl restart chrony"]  # certificates: a restart
    session.daemon_commands.clear()
    _, again = push(driver, session, DESIRED)
    assert not again and session.daemon_commands == []  # idempotent
    # NTS off again: the trust goes, the server line loses `nts`
    _, off = push(driver, session, DesiredNtp(servers=(NtpServerSpec("ntp.example.org"),)))
    assert off
    assert b"ntstrustedcerts" not in (session.file("/etc/chrony/conf.d/orch-nts.conf") or b"")
    assert b" nts" not in (session.file("/etc/chrony/sources.d/orch.sources") or b"")


def test_lab_layout_without_confdir_puts_the_trust_in_a_chrony_conf_block(tmp_path: Path) -> None:
    conf = "keyfile /etc/chrony/chrony.keys\nsourcedir /etc/chrony/sources.d\n"
    session = SandboxSession(tmp_path, CHRONY_PROBE)
    session.put("/etc/chrony/chrony.conf", conf)
    backup, changed = push(LinuxDriver(), session, DESIRED)
    assert changed
    text = (session.file("/etc/chrony/chrony.conf") or b"").decode()
    assert text == f"{conf}{BEGIN}\nntstrustedcerts /etc/chrony/orch-nts-ca.crt\n{END}\n"
    LinuxDriver().restore(session, backup)  # and a failed push puts every file back
    assert session.file("/etc/chrony/chrony.conf") == conf.encode()
    assert session.file("/etc/chrony/orch-nts-ca.crt") is None


def test_ntpd_is_told_it_gets_no_nts(tmp_path: Path) -> None:
    session = SandboxSession(tmp_path, "uid=0\ncomm=ntpd\nunit=ntpsec\nfile=/etc/ntpsec/ntp.conf\n")
    session.put("/etc/ntpsec/ntp.conf", NTPSEC_CONF)
    driver = LinuxDriver()
    backup = driver.backup(session)
    plan = driver.render(DESIRED, driver.current(backup), backup)
    assert any("no NTS" in w for w in plan.warnings), plan.warnings
    assert "nts" not in plan.diff.replace("ntsec", "")


def test_nts_sources_from_authdata() -> None:
    assert nts_sources(AUTHDATA) == ("ntp.example.org",)
    assert nts_sources("506 Cannot talk to daemon\n") is None
    assert nts_sources("Unrecognised command\n") is None


# ---------------------------------------------------------------------- verify


NOW = 1_790_000_000.0
SOURCES = """\
MS Name/IP address         Stratum Poll Reach LastRx Last sample
===============================================================================
^* ntp.example.org               2   6   377    12    +15us[  +20us] +/-  300us
"""
TRACKING = """\
Reference ID    : 7F000001 (ntp.example.org)
Stratum         : 3
Ref time (UTC)  : Thu Sep 24 12:00:00 2026
System time     : 0.000010000 seconds fast of NTP time
Last offset     : +0.000015000 seconds
RMS offset      : 0.000015000 seconds
Frequency       : 1.000 ppm slow
Residual freq   : +0.000 ppm
Skew            : 0.010 ppm
Root delay      : 0.000300000 seconds
Root dispersion : 0.000100000 seconds
Update interval : 64.0 seconds
Leap status     : Normal
"""


def _verdict(authdata: str, nts_requests: int, platform: str = "linux"):  # type: ignore[no-untyped-def]
    host = replace(make_host(), platform=platform, desired=DESIRED)
    raw = {
        "cat /etc/chrony/chrony.conf": "sourcedir /etc/chrony/sources.d\n",
        "cat /etc/chrony/sources.d/orch.sources": "server ntp.example.org iburst nts\n",
        "chronyc -n sources": SOURCES,
        "chronyc -n tracking": TRACKING,
        CHRONY_AUTHDATA: authdata,
    }
    state = LinuxDriver().parse(host.name, raw)
    if platform != "linux":
        state = replace(state, nts_sources=None)  # what a platform without NTS reports
    log = index_client_log(
        [ClientLogEntry(host.hostname, NOW - 900, NOW - 10, 50, 50, 0, 0, None, nts_requests)]
    )
    return evaluate(host, state, log, now=NOW)


def test_verify_nts_compliant_with_evidence_from_both_sides() -> None:
    v = _verdict(AUTHDATA, 48)
    assert v.verdict is Verdict.COMPLIANT, v.reason
    (check,) = [c for c in v.checks if c.name == "nts"]
    assert check.passed and "48 NTS requests" in check.actual


def test_verify_nts_missing_on_the_device_or_in_our_log() -> None:
    plain = AUTHDATA.replace("NTS     1   15  256", "  -     0    0    0")
    v = _verdict(plain, 48)
    assert v.verdict is Verdict.MISCONFIGURED and "without NTS" in v.reason
    v = _verdict(AUTHDATA, 0)
    assert v.verdict is Verdict.MISCONFIGURED and "our server answered none" in v.reason


def test_a_platform_without_nts_is_not_applicable_never_a_pass() -> None:
    v = _verdict("", 0, platform="cisco_ios")
    (check,) = [c for c in v.checks if c.name == "nts"]
    assert not check.passed and not check.applicable
    assert check.actual.startswith("not applicable")
    assert v.verdict is Verdict.COMPLIANT and "nts not applicable" in v.reason
