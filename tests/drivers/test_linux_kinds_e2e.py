"""Every kind of real Linux lab host, end to end: chrony (chronyd -x in namespaces), NTPsec
ntpd and systemd-timesyncd (each under a real systemd, booted with systemd-nspawn).

One host of each kind boots once for the module; our NTP server runs in process on
127.0.0.1:123 (ntpd and timesyncd have no port option, and NTPsec takes no other loopback
address as a server). For each kind: `orch push`'s engine changes the host, then finds it
unchanged, `orch verify`'s engine judges it compliant from the daemon's own answers and
our server's client log; a change whose reload or restart fails is rolled back to the
exact bytes. And the machine's clock is what it was before any of it.
"""

from __future__ import annotations

import base64
import shlex
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.drivers.base import CommandResult, Session
from orchestrator.drivers.session import open_session
from orchestrator.engine.push import PushOptions, push_host
from orchestrator.engine.verify import verify_hosts
from orchestrator.lab.linux_hosts import LinuxHostInfo, LinuxHostPool, missing_requirements
from orchestrator.models import DesiredNtp, Host, NtpServerSpec, PushOutcome, Secret, Verdict
from orchestrator.serve.config import ServerConfig
from orchestrator.serve.hostclock import kernel_status
from orchestrator.serve.runner import NtpServerRunner

# chrony: Debian's layout (sources.d, `chronyc reload sources`); chrony-rhel: RHEL's
# (/etc/chrony.conf without sources.d, a restart of chronyd.service under systemd).
KINDS = ("chrony", "ntpsec", "timesyncd", "chrony-rhel")
UNIT = {"ntpsec": "ntpsec", "timesyncd": "systemd-timesyncd", "chrony-rhel": "chrony"}
_MISSING = missing_requirements(KINDS)

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(bool(_MISSING), reason="; ".join(_MISSING) or "usable"),
]

# Where each kind keeps the file a change rewrites (what the rollback must bring back).
CHANGED_FILE = {
    "chrony": "/etc/chrony/sources.d/orch.sources",
    "ntpsec": "/etc/ntpsec/ntp.conf",
    "timesyncd": "/etc/systemd/timesyncd.conf.d/orch.conf",
    "chrony-rhel": "/etc/chrony.conf",
}
# Fast polling where the daemon has a knob for it (timesyncd syncs on start anyway).
POLL = {"chrony": (-2, 0), "ntpsec": (0, 1), "timesyncd": (None, None), "chrony-rhel": (-2, 0)}


# --------------------------------------------------------------------------- the clock


def kernel_clock() -> dict[str, int]:
    """This machine's kernel clock discipline (adjtimex with no modes: a pure read)."""
    clock = kernel_status()
    assert clock is not None
    # maxerror/esterror grow by themselves with time; everything a daemon would set:
    return {
        "offset": clock.offset,
        "freq": clock.freq,
        "status": clock.status,
        "constant": clock.constant,
        "tick": clock.tick,
    }


# --------------------------------------------------------------------------- fixtures


@dataclass
class Lab:
    hosts: dict[str, LinuxHostInfo]
    client_log: Path
    known_hosts: Path
    backups: Path
    clock_before: dict[str, int]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("linux-kinds")
    clock_before = kernel_clock()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", 123))
        except OSError as exc:
            pytest.skip(f"127.0.0.1:123 is taken (another NTP server runs here): {exc}")
    config = ServerConfig(
        listen=("127.0.0.1",),
        port=123,
        reference="local",
        stratum=8,
        ratelimit=None,  # the hosts poll every second or faster
        client_log=tmp / "clients.sqlite",
        workers=1,
        flush_interval_s=0.2,
    )
    pool = LinuxHostPool(
        tmp / "state", len(KINDS), base_address="127.0.2.141", ssh_port=0, kinds=KINDS
    )
    with NtpServerRunner(config):
        try:
            hosts = {h.kind: h for h in pool.start()}
            yield Lab(hosts, config.client_log_path, tmp / "kh", tmp / "backups", clock_before)
        finally:
            pool.stop()


def as_host(info: LinuxHostInfo, desired: DesiredNtp) -> Host:
    return Host(
        name=info.name,
        hostname=info.address,
        platform="linux",
        port=info.port,
        username=info.username,
        password=Secret(info.sudo_password) if info.sudo_password else None,
        site="lab",
        groups=(),
        desired=desired,
        ssh_key_file=str(info.key_file),
    )


def desired_for(kind: str, *, prefer: bool = True) -> DesiredNtp:
    minpoll, maxpoll = POLL[kind]
    spec = NtpServerSpec("127.0.0.1", prefer=prefer, minpoll=minpoll, maxpoll=maxpoll)
    return DesiredNtp(servers=(spec,))


def options(lab: Lab) -> PushOptions:
    return PushOptions(
        known_hosts=lab.known_hosts, accept_new_host_keys=True, backups_dir=lab.backups
    )


def read_bytes(session: Session, path: str) -> bytes | None:
    result = session.run(f"if [ -e {path} ]; then base64 -w0 {path}; else echo absent; fi")
    assert result.ok, result.stderr
    text = result.output.strip()
    return None if text == "absent" else base64.b64decode(text)


def write_bytes(session: Session, path: str, data: bytes) -> None:
    result = session.run(f"base64 -d > {path}", stdin=base64.b64encode(data).decode())
    assert result.ok, result.stderr


# --------------------------------------------------------------------------- push + verify


@pytest.mark.parametrize("kind", KINDS)
def test_push_changes_then_nothing_then_verify_finds_it_compliant(lab: Lab, kind: str) -> None:
    host = as_host(lab.hosts[kind], desired_for(kind))
    first = push_host(host, run_id=f"{kind}-1", options=options(lab))
    assert first.outcome is PushOutcome.CHANGED, first.reason
    assert "127.0.0.1" in first.diff
    second = push_host(host, run_id=f"{kind}-2", options=options(lab))
    assert second.outcome is PushOutcome.UNCHANGED, second.reason

    run = verify_hosts(
        [host],
        client_log_path=lab.client_log,
        wait_s=90,
        poll_interval_s=1.0,
        known_hosts=lab.known_hosts,
    )
    (verdict,) = run.verdicts
    assert verdict.verdict is Verdict.COMPLIANT, (verdict.reason, verdict.checks)
    assert verdict.state is not None and verdict.state.status is not None
    assert verdict.state.status.synchronized
    assert verdict.state.status.reference == "127.0.0.1"
    # Two-sided: our server heard this very host (its own address) polling.
    assert run.client_log_available
    (server_log,) = [c for c in verdict.checks if c.name == "server-log"]
    assert server_log.passed and lab.hosts[kind].address in server_log.expected
    raw = dict(verdict.state.raw)
    # The daemon's own tools said so, not a file orch wrote.
    evidence = {
        "chrony": ("chronyc -n tracking", "(127.0.0.1)"),
        "ntpsec": ("ntpq -pn", "*127.0.0.1"),
        "timesyncd": ("timedatectl timesync-status", "Server: 127.0.0.1"),
        "chrony-rhel": ("chronyc -n tracking", "(127.0.0.1)"),
    }[kind]
    assert evidence[1] in raw[evidence[0]]


# --------------------------------------------------------------------------- failing change


class FailingReload:
    """The real session, except that the first `chronyc reload sources` is refused (chrony
    reloads sources without a restart; only a daemon that does not answer makes that
    command fail, and the lab's chronyd must keep answering)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.host = session.host
        self.refused: list[str] = []

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        if "chronyc reload sources" in command and not self.refused:
            self.refused.append(command)
            return CommandResult(command, "", 1, "506 Cannot talk to daemon")
        return self._session.run(command, stdin=stdin, timeout_s=timeout_s)

    def configure(self, lines: object) -> str:
        raise AssertionError("the linux driver never uses configuration mode")

    def save(self) -> str:
        return ""

    def close(self) -> None:
        self._session.close()


def fail_next_restart(session: Session, unit: str) -> None:
    """A real failing `systemctl restart`: the unit's next start fails once (ExecStartPre,
    `+`: outside the unit's sandbox, which may not write /run)."""
    dropin = (
        "[Service]\n"
        "ExecStartPre=+/bin/sh -c 'if [ -e /run/orch-fail-once ]; then "
        "rm -f /run/orch-fail-once; echo refused by the test >&2; exit 1; fi'\n"
    )
    script = (
        f"mkdir -p /run/systemd/system/{unit}.service.d && "
        f"printf %s {shlex.quote(dropin)} > /run/systemd/system/{unit}.service.d/fail-once.conf"
        " && systemctl daemon-reload && touch /run/orch-fail-once"
    )
    result = session.run(script)
    assert result.ok, result.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_reload_or_restart_rolls_back_to_the_same_bytes(lab: Lab, kind: str) -> None:
    info = lab.hosts[kind]
    path = CHANGED_FILE[kind]
    # A different change from the compliant state above: the same server, not preferred.
    host = as_host(info, desired_for(kind, prefer=False))
    opener: Callable[[Host], Session]
    with open_session(host, known_hosts=lab.known_hosts, accept_new_host_keys=True) as session:
        if kind == "timesyncd":
            # A hand-written drop-in: CRLF, a tab, no newline at the end, a non-UTF-8 byte.
            write_bytes(session, path, b"[Time]\r\nNTP=127.0.0.1\t# caf\xe9")
        elif kind == "chrony":
            write_bytes(session, path, b"# hand-written\r\nserver 127.0.0.1\tiburst\n# caf\xe9")
        before = read_bytes(session, path)
        mode_before = session.run(f"stat -c %a {path}").output.strip()
        if kind != "chrony":
            fail_next_restart(session, UNIT[kind])

    failing: list[FailingReload] = []

    def open_failing(h: Host) -> Session:
        wrapped = FailingReload(open_session(h, known_hosts=lab.known_hosts))
        failing.append(wrapped)
        return wrapped

    opener = (
        open_failing
        if kind == "chrony"
        else (lambda h: open_session(h, known_hosts=lab.known_hosts))
    )
    result = push_host(host, run_id=f"{kind}-fail", options=options(lab), opener=opener)
    assert result.outcome is PushOutcome.ROLLED_BACK, result.reason
    expected_cause = "chronyc reload sources" if kind == "chrony" else "systemctl restart"
    assert expected_cause in result.reason
    if kind == "chrony":
        assert failing and failing[0].refused
    with open_session(host, known_hosts=lab.known_hosts) as session:
        assert read_bytes(session, path) == before
        assert session.run(f"stat -c %a {path}").output.strip() == mode_before
        if kind != "chrony":
            # The restore's restart really ran (and this time worked).
            assert session.run(f"systemctl is-active {UNIT[kind]}").output.strip() == "active"


# --------------------------------------------------------------------------- sudo


@pytest.mark.parametrize("sudo_password", [False, True], ids=["nopasswd", "with-password"])
def test_a_non_root_user_pushes_through_real_sudo(
    lab: Lab, tmp_path: Path, sudo_password: bool
) -> None:
    """The image's user `orch` logs in; sudo lets it in without a password, or asks for
    it (the inventory's password, given on sudo's stdin, never on a command line)."""
    address = "127.0.2.146" if sudo_password else "127.0.2.145"
    pool = LinuxHostPool(
        tmp_path / "state",
        1,
        base_address=address,
        ssh_port=0,
        kinds=["timesyncd"],
        lab_user="orch",
        sudo_password=sudo_password,
    )
    (info,) = pool.start()
    try:
        host = as_host(info, desired_for("timesyncd"))
        assert (host.password is not None) == sudo_password
        push = PushOptions(
            known_hosts=tmp_path / "kh", accept_new_host_keys=True, backups_dir=tmp_path / "b"
        )
        first = push_host(host, run_id="sudo-1", options=push)
        assert first.outcome is PushOutcome.CHANGED, first.reason
        assert push_host(host, run_id="sudo-2", options=push).outcome is PushOutcome.UNCHANGED
        with open_session(host, known_hosts=tmp_path / "kh") as session:
            assert session.run("id -un").output.strip() == "orch"
            # Without sudo this user may not write there; through the driver it did.
            assert not session.run("touch /etc/systemd/timesyncd.conf.d/x").ok
            dropin = CHANGED_FILE["timesyncd"]
            assert session.run(f"stat -c %U {dropin}").output.strip() == "root"
            assert session.run("sudo -n true").ok is not sudo_password
    finally:
        pool.stop()


# --------------------------------------------------------------------------- the clock


def test_no_lab_host_changed_this_machines_clock(lab: Lab) -> None:
    """Runs after every host synchronised: each daemon believed it disciplined the clock
    (timesyncd and ntpd through the lab shim, chronyd -x never tries), none could (no
    CAP_SYS_TIME anywhere in a lab host), and the kernel's clock state is unchanged."""
    for kind, info in lab.hosts.items():
        host = as_host(info, desired_for(kind))
        with open_session(host, known_hosts=lab.known_hosts) as session:
            bounding = session.run("grep CapBnd /proc/self/status").output.split()[1]
            assert not int(bounding, 16) & (1 << 25), f"{kind} host has CAP_SYS_TIME"
    assert kernel_clock() == lab.clock_before
