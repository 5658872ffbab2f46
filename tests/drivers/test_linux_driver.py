"""The linux driver at unit level: detection, targets, rendering, and the file handling
of push/restore in a sandbox where the driver's file commands really run.

SandboxSession executes every command the driver sends with a real `sh` (real base64,
mktemp, chmod --reference, mv), with /etc/... rewritten into a temporary directory. The
daemons' own commands (systemctl, chronyc, ntpq, timedatectl) are only recorded: what they
do is proven against the real daemons (chrony, NTPsec ntpd, systemd-timesyncd under
systemd) in test_linux_e2e.py.
"""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
from pathlib import Path

import pytest

from orchestrator.drivers.base import Backup, CommandResult
from orchestrator.drivers.linux import LinuxDriver
from orchestrator.drivers.linux.chrony import Chrony
from orchestrator.drivers.linux.driver import strategy_for
from orchestrator.drivers.linux.files import BEGIN, END, replace_block
from orchestrator.drivers.linux.keys import key_line
from orchestrator.drivers.linux.ntpd import Ntpd
from orchestrator.drivers.linux.probe import PROBE, Probe
from orchestrator.drivers.linux.strategy import configured_in, server_line
from orchestrator.engine.push import PushOptions, push_host
from orchestrator.errors import CommandRejected, DeviceError, ParseError
from orchestrator.models import DesiredNtp, Host, NtpKey, NtpServerSpec, PushOutcome, Secret

DAEMON_COMMANDS = ("systemctl", "chronyc", "ntpq", "timedatectl")

# Debian 12 (bookworm) chrony 4.3, /etc/chrony/chrony.conf as shipped (comments dropped).
DEBIAN_CHRONY_CONF = """\
confdir /etc/chrony/conf.d
pool 2.debian.pool.ntp.org iburst
sourcedir /run/chrony-dhcp
sourcedir /etc/chrony/sources.d
keyfile /etc/chrony/chrony.keys
driftfile /var/lib/chrony/chrony.drift
ntsdumpdir /var/lib/chrony
logdir /var/log/chrony
maxupdateskew 100.0
rtcsync
makestep 1 3
leapsectz right/UTC
"""

# RHEL 9 chrony, /etc/chrony.conf as shipped (comments dropped): no persistent sourcedir.
RHEL_CHRONY_CONF = """\
pool 2.rhel.pool.ntp.org iburst
sourcedir /run/chrony-dhcp
driftfile /var/lib/chrony/drift
makestep 1.0 3
rtcsync
keyfile /etc/chrony.keys
ntsdumpdir /var/lib/chrony
leapsectz right/UTC
logdir /var/log/chrony
"""

NTPSEC_CONF = """\
# /etc/ntpsec/ntp.conf, configuration for ntpd; see ntp.conf(5) for help
driftfile /var/lib/ntpsec/ntp.drift
leapfile /usr/share/zoneinfo/leap-seconds.list
keys /etc/ntpsec/ntp.keys
pool 0.debian.pool.ntp.org iburst
restrict default kod nomodify nopeer noquery limited
restrict 127.0.0.1
restrict ::1"""  # no newline at the end: the block must not glue onto the last line

SERVER = NtpServerSpec("127.0.0.1", prefer=True, minpoll=4, maxpoll=6)
KEY = NtpKey(10, "sha1", Secret("HEX:" + "ab" * 20))


def make_host(username: str = "root", data: tuple[tuple[str, str], ...] = ()) -> Host:
    return Host(
        name="lnx1",
        hostname="127.0.2.1",
        platform="linux",
        port=22,
        username=username,
        password=None,
        site="lab",
        groups=(),
        desired=DesiredNtp(servers=(SERVER,)),
        data=data,
    )


class SandboxSession:
    def __init__(self, root: Path, probe: str, host: Host | None = None) -> None:
        self.root = root
        self.probe = probe
        self.host = host or make_host()
        self.commands: list[str] = []
        self.daemon_commands: list[str] = []
        self.fail_daemon_commands = 0  # how many daemon commands fail before they work
        self.sudo_passwords: list[str] = []

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        self.commands.append(command)
        if command == PROBE:
            return CommandResult(command, self.probe, 0)
        if command.startswith("sudo -k -S -p '' "):
            # sudo reads the password from the first line of stdin; the command gets the rest.
            password, _, stdin = (stdin or "").partition("\n")
            self.sudo_passwords.append(password)
            command = command.removeprefix("sudo -k -S -p '' ")
        inner = command.removeprefix("sudo -n ")
        script = shlex.split(inner)[2] if inner.startswith("sh -c ") else inner
        if script.split()[0] in DAEMON_COMMANDS:
            self.daemon_commands.append(script)
            if self.fail_daemon_commands:
                self.fail_daemon_commands -= 1
                return CommandResult(command, "", 1, "501 Not authorised")
            return CommandResult(command, "", 0)
        rewritten = script.replace("/etc/", f"{self.root}/etc/")
        proc = subprocess.run(["sh", "-c", rewritten], input=stdin, capture_output=True, text=True)
        return CommandResult(command, proc.stdout, proc.returncode, proc.stderr)

    def configure(self, lines: object) -> str:
        raise AssertionError("the linux driver never uses configuration mode")

    def save(self) -> str:
        return ""

    def close(self) -> None:
        pass

    def file(self, path: str) -> bytes | None:
        p = self.root / path.lstrip("/")
        return p.read_bytes() if p.exists() else None

    def put(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        p = self.root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        p.chmod(mode)


def push(driver: LinuxDriver, session: SandboxSession, desired: DesiredNtp) -> tuple[Backup, bool]:
    backup = driver.backup(session)
    plan = driver.render(desired, driver.current(backup), backup)
    if not plan.is_noop:
        driver.apply(session, plan)
    return backup, not plan.is_noop


# ---------------------------------------------------------------------- detection


def test_probe_prefers_the_running_daemon_over_installed_ones() -> None:
    probe = Probe.parse(
        "uid=0\ncomm=systemd-timesyn\ncomm=chronyd\n"
        "chronyd_args=/usr/sbin/chronyd -F 1 -f /etc/chrony/lab.conf \n"
        "tool=ntpq\ntool=chronyc\nfile=/etc/ntp.conf\nunit=chrony\n"
    )
    assert strategy_for(probe).name == "chrony"
    assert Chrony().main_conf(probe) == "/etc/chrony/lab.conf"  # chronyd's own -f wins
    assert strategy_for(probe, "ntpsec").name == "ntpd"  # data.ntp_daemon wins
    with pytest.raises(DeviceError, match="ntp_daemon"):
        strategy_for(probe, "openntpd")


def test_probe_falls_back_to_what_is_installed() -> None:
    ntpd = Probe.parse("uid=0\ntool=ntpq\nfile=/etc/ntpsec/ntp.conf\n")
    assert (strategy_for(ntpd).name, Ntpd().main_conf(ntpd), Ntpd().unit(ntpd)) == (
        "ntpd",
        "/etc/ntpsec/ntp.conf",
        "ntpsec",
    )
    classic = Probe.parse("uid=0\ntool=ntpq\nfile=/etc/ntp.conf\n")
    assert (Ntpd().main_conf(classic), Ntpd().unit(classic)) == ("/etc/ntp.conf", "ntp")
    timesyncd = Probe.parse("uid=0\nfile=/etc/systemd/timesyncd.conf\n")
    assert strategy_for(timesyncd).name == "timesyncd"
    with pytest.raises(DeviceError, match="install chrony"):
        strategy_for(Probe.parse("uid=0\n"))
    with pytest.raises(DeviceError, match="unexpected answer"):
        Probe.parse("sh: 1: Syntax error\n")


def test_chrony_debian_uses_the_persistent_sourcedir_and_reloads_without_restart() -> None:
    probe = Probe.parse("uid=0\ncomm=chronyd\nunit=chrony\n")
    target = Chrony().target(probe, "/etc/chrony/chrony.conf", DEBIAN_CHRONY_CONF, "no")
    assert target.servers.path == "/etc/chrony/sources.d/orch.sources"  # not /run/chrony-dhcp
    assert target.servers.whole and target.servers.reload == ("chronyc reload sources",)
    assert target.keys is not None and target.keys.path == "/etc/chrony/chrony.keys"
    assert target.keys.reload == ("chronyc rekey",)


def test_chrony_rhel_without_sourcedir_gets_a_block_and_a_restart() -> None:
    probe = Probe.parse("uid=0\ncomm=chronyd\nunit=chronyd\n")
    target = Chrony().target(probe, "/etc/chrony.conf", RHEL_CHRONY_CONF, "no")
    assert (target.servers.path, target.servers.whole) == ("/etc/chrony.conf", False)
    assert target.servers.reload == ("systemctl restart chronyd",)
    confdir = Chrony().target(probe, "/etc/chrony.conf", "confdir /etc/chrony.d\n", "no")
    assert confdir.servers.path == "/etc/chrony.d/orch.conf"


# ---------------------------------------------------------------------- rendering


def test_server_line_options_and_port() -> None:
    spec = NtpServerSpec("192.0.2.1", key_id=3, prefer=True, port=1123, minpoll=-2, maxpoll=0)
    assert server_line(spec, port=True) == (
        "server 192.0.2.1 port 1123 iburst prefer key 3 minpoll -2 maxpoll 0"
    )
    assert server_line(spec, port=False) == (
        "server 192.0.2.1 iburst prefer key 3 minpoll -2 maxpoll 0"
    )
    # Read back through the parser template, every option survives.
    assert configured_in("/etc/chrony/chrony.conf", server_line(spec, port=True)).servers == (spec,)


def test_replace_block_keeps_every_byte_outside_it() -> None:
    text = "a\r\nb\tc\n" + "z"
    once = replace_block(text, ["server x"])
    assert once.startswith("a\r\nb\tc\nz\n" + BEGIN)
    assert replace_block(once, ["server x"]) == once
    twice = replace_block(once, ["server y"])
    assert "server x" not in twice and "server y" in twice
    assert replace_block(twice, []) == "a\r\nb\tc\nz\n"
    assert replace_block(text, []) == text


def test_chrony_keys_land_in_the_keyfile_hex_and_never_in_the_diff(tmp_path: Path) -> None:
    session = SandboxSession(tmp_path, "uid=0\ncomm=chronyd\nfile=/etc/chrony/chrony.conf\n")
    session.put("/etc/chrony/chrony.conf", DEBIAN_CHRONY_CONF)
    session.put("/etc/chrony/chrony.keys", "#1 MD5 HEX:00\n", mode=0o640)
    spec = NtpServerSpec("127.0.0.1", key_id=10)
    desired = DesiredNtp(servers=(spec,), keys=(KEY,), authenticate=True)
    driver = LinuxDriver()
    backup = driver.backup(session)
    plan = driver.render(desired, driver.current(backup), backup)
    assert "ab" * 20 not in plan.diff and "********" in plan.diff
    # add before remove: the key is written before any server line names it
    assert [path for path, _ in plan.files] == [
        "/etc/chrony/chrony.keys",
        "/etc/chrony/sources.d/orch.sources",
    ]
    assert plan.warnings == (
        "/etc/chrony/chrony.conf also configures 2.debian.pool.ntp.org outside orch's "
        "settings; the host may select those instead",
    )
    driver.apply(session, plan)
    keys = session.file("/etc/chrony/chrony.keys")
    assert keys == f"#1 MD5 HEX:00\n{BEGIN}\n10 SHA1 HEX:{'ab' * 20}\n{END}\n".encode()
    assert (tmp_path / "etc/chrony/chrony.keys").stat().st_mode & 0o777 == 0o640
    assert session.daemon_commands == ["chronyc rekey", "chronyc reload sources"]


# ---------------------------------------------------------------------- whole cycles


def test_restore_rewrites_only_files_changed_since_the_backup(tmp_path: Path) -> None:
    session = SandboxSession(tmp_path, "uid=0\ncomm=chronyd\nfile=/etc/chrony/chrony.conf\n")
    session.put("/etc/chrony/chrony.conf", DEBIAN_CHRONY_CONF)
    session.put("/etc/chrony/chrony.keys", "#1 MD5 HEX:00\n", mode=0o640)
    driver = LinuxDriver()
    backup, changed = push(driver, session, DesiredNtp(servers=(NtpServerSpec("127.0.0.1"),)))
    assert changed and len(backup.files) == 4  # sources, keys, NTS CA, NTS trust: all backed up
    session.daemon_commands.clear()
    driver.restore(session, backup)
    # only the sources file changed: no rekey, and no chronyd restart for the NTS files
    assert session.daemon_commands == ["chronyc reload sources"]
    assert session.file("/etc/chrony/sources.d/orch.sources") is None
    assert session.file("/etc/chrony/chrony.keys") == b"#1 MD5 HEX:00\n"
    assert session.file("/etc/chrony/orch-nts-ca.crt") is None


def test_ntpd_push_noop_restore(tmp_path: Path) -> None:
    session = SandboxSession(
        tmp_path, "uid=0\ncomm=ntpd\ntool=ntpq\nfile=/etc/ntpsec/ntp.conf\nunit=ntpsec\n"
    )
    session.put("/etc/ntpsec/ntp.conf", NTPSEC_CONF)
    desired = DesiredNtp(servers=(NtpServerSpec("127.0.0.1", key_id=10, port=4123),), keys=(KEY,))
    driver = LinuxDriver()

    before, changed = push(driver, session, desired)
    assert changed
    conf = session.file("/etc/ntpsec/ntp.conf")
    assert (
        conf
        == (
            NTPSEC_CONF + f"\n{BEGIN}\nserver 127.0.0.1 iburst key 10\ntrustedkey 10\n{END}\n"
        ).encode()
    )
    keys = session.file("/etc/ntpsec/ntp.keys")  # the `keys` file did not exist: created
    assert keys == f"{BEGIN}\n10 sha1 {'ab' * 20}\n{END}\n".encode()  # NTPsec spelling
    assert (tmp_path / "etc/ntpsec/ntp.keys").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "etc/ntpsec/ntp.conf").stat().st_mode & 0o777 == 0o644
    assert session.daemon_commands == ["systemctl restart ntpsec"]  # once for both files

    session.daemon_commands.clear()
    again = driver.backup(session)
    plan = driver.render(desired, driver.current(again), again)
    assert plan.is_noop and session.daemon_commands == []
    assert "ntpd always uses port 123; ignoring port 4123" in plan.warnings

    driver.restore(session, before)
    assert session.file("/etc/ntpsec/ntp.conf") == NTPSEC_CONF.encode()
    assert session.file("/etc/ntpsec/ntp.keys") is None
    assert session.daemon_commands == ["systemctl restart ntpsec"]


def test_timesyncd_dropin_then_restore_deletes_it(tmp_path: Path) -> None:
    session = SandboxSession(
        tmp_path,
        "uid=0\ncomm=systemd-timesyn\ntool=timedatectl\nfile=/etc/systemd/timesyncd.conf\n",
    )
    session.put("/etc/systemd/timesyncd.conf", "[Time]\n#NTP=\n")
    desired = DesiredNtp(
        servers=(NtpServerSpec("127.0.0.1", port=4123), NtpServerSpec("127.0.0.2"))
    )
    driver = LinuxDriver()
    backup = driver.backup(session)
    plan = driver.render(desired, driver.current(backup), backup)
    assert "systemd-timesyncd always uses port 123; ignoring 4123" in plan.warnings
    driver.apply(session, plan)
    assert session.file("/etc/systemd/timesyncd.conf.d/orch.conf") == (
        b"# Managed by orch: the NTP servers of this host. Edits here are overwritten.\n"
        b"[Time]\nNTP=127.0.0.1 127.0.0.2\n"
    )
    assert session.daemon_commands == ["systemctl restart systemd-timesyncd"]
    state = driver.current(driver.backup(session))
    assert [s.address for s in state.configured.servers] == ["127.0.0.1", "127.0.0.2"]

    driver.restore(session, backup)
    assert session.file("/etc/systemd/timesyncd.conf.d/orch.conf") is None
    assert session.file("/etc/systemd/timesyncd.conf") == b"[Time]\n#NTP=\n"


def test_a_user_other_than_root_goes_through_sudo(tmp_path: Path) -> None:
    session = SandboxSession(
        tmp_path,
        "uid=1000\ncomm=ntpd\ntool=ntpq\ntool=sudo\nfile=/etc/ntp.conf\n",
        host=make_host("ops"),
    )
    session.put("/etc/ntp.conf", "server 192.0.2.9\n")
    driver = LinuxDriver()
    push(driver, session, DesiredNtp(servers=(SERVER,)))
    privileged = [c for c in session.commands if c != PROBE]
    assert privileged and all(c.startswith("sudo -n sh -c ") for c in privileged)
    assert session.daemon_commands == ["systemctl restart ntp"]


def test_a_sudo_password_goes_on_stdin_never_on_a_command_line(tmp_path: Path) -> None:
    host = dataclasses.replace(make_host("ops"), password=Secret("s3cret-pw"))
    session = SandboxSession(
        tmp_path, "uid=1000\ncomm=ntpd\ntool=ntpq\ntool=sudo\nfile=/etc/ntp.conf\n", host=host
    )
    session.put("/etc/ntp.conf", "driftfile /var/lib/ntp/drift\n")
    driver = LinuxDriver()
    backup, changed = push(driver, session, DesiredNtp(servers=(SERVER,)))
    assert changed and b"server 127.0.0.1" in (session.file("/etc/ntp.conf") or b"")
    privileged = [c for c in session.commands if c != PROBE]
    assert privileged and all(c.startswith("sudo -k -S -p '' sh -c ") for c in privileged)
    assert set(session.sudo_passwords) == {"s3cret-pw"}
    assert len(session.sudo_passwords) == len(privileged)
    assert not any("s3cret-pw" in c for c in session.commands)
    driver.restore(session, backup)
    assert session.file("/etc/ntp.conf") == b"driftfile /var/lib/ntp/drift\n"


def test_a_failed_reload_is_a_rejected_command(tmp_path: Path) -> None:
    session = SandboxSession(tmp_path, "uid=0\ncomm=chronyd\nfile=/etc/chrony/chrony.conf\n")
    session.put("/etc/chrony/chrony.conf", DEBIAN_CHRONY_CONF)
    session.fail_daemon_commands = 1
    driver = LinuxDriver()
    backup = driver.backup(session)
    plan = driver.render(DesiredNtp(servers=(SERVER,)), driver.current(backup), backup)
    with pytest.raises(CommandRejected, match="chronyc reload sources"):
        driver.apply(session, plan)


# ------------------------------------------------------------ parse (orchestrator.parsing)

# ntpq -pn, CentOS 7.7, from
# https://github.com/kellyjonbrazil/jc/blob/400f5a44ece280cb0097d806b78a9490d2905600/tests/fixtures/centos-7.7/ntpq-pn.out
NTPQ_PN_CENTOS77 = """\
     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
+44.190.6.254    127.67.113.92    2 u   66   64  377   22.690   -0.392   2.085
-108.59.2.24     130.133.1.10     2 u   63   64  377   90.805    2.840   1.908
+38.229.71.1     204.9.54.119     2 u   64   64  377   68.699   -0.610   2.576
*72.5.72.15      216.218.254.202  2 u   63   64  377   22.654    0.231   1.964
"""

# timedatectl timesync-status, from
# https://github.com/kellyjonbrazil/jc/blob/164294ecb7361e6bc4d52256ecb2f9185ad85b04/tests/fixtures/generic/timedatectl-timesync-status.out
TIMESYNC_STATUS_GOOGLE = """\
       Server: 216.239.35.8 (time.google.com)
Poll interval: 8min 32s (min: 32s; max 34min 8s)
         Leap: normal
      Version: 4
      Stratum: 1
    Reference: GOOG
    Precision: 1us (-20)
Root distance: 91us (max: 5s)
       Offset: -5.224ms
        Delay: 65.884ms
       Jitter: 5.386ms
 Packet count: 5
    Frequency: +27.071ppm
"""

# timedatectl show-timesync and timedatectl (systemd >= 239), from
# https://wiki.archlinux.org/title/Systemd-timesyncd
SHOW_TIMESYNC_ARCH = """\
LinkNTPServers=
SystemNTPServers=
FallbackNTPServers=0.arch.pool.ntp.org 1.arch.pool.ntp.org 2.arch.pool.ntp.org 3.arch.pool.ntp.org
ServerName=0.arch.pool.ntp.org
ServerAddress=103.47.76.177
RootDistanceMaxUSec=5s
PollIntervalMinUSec=32s
PollIntervalMaxUSec=34min 8s
PollIntervalUSec=1min 4s
NTPMessage={ Leap=0, Version=4, Mode=4, Stratum=2, Precision=-21, RootDelay=177.398ms, RootDispersion=142.196ms, Reference=C342F10A, OriginateTimestamp=Mon 2018-07-16 13:53:43 +08, ReceiveTimestamp=Mon 2018-07-16 13:53:43 +08, TransmitTimestamp=Mon 2018-07-16 13:53:43 +08, DestinationTimestamp=Mon 2018-07-16 13:53:43 +08, Ignored=no PacketCount=1, Jitter=0 }
Frequency=22520548
"""  # noqa: E501
TIMEDATECTL_ARCH = """\
               Local time: Thu 2015-07-09 18:21:33 CEST
           Universal time: Thu 2015-07-09 16:21:33 UTC
                 RTC time: Thu 2015-07-09 16:21:33
                Time zone: Europe/Amsterdam (CEST, +0200)
System clock synchronized: yes
              NTP service: active
          RTC in local TZ: no
"""


def test_parse_ntpd_takes_status_from_the_sys_peer() -> None:
    conf = replace_block(NTPSEC_CONF, ["server 72.5.72.15 iburst prefer"])
    raw = {"cat /etc/ntpsec/ntp.conf": conf, "ntpq -pn": NTPQ_PN_CENTOS77}
    state = LinuxDriver().parse("lnx1", raw)
    assert [a.address for a in state.associations if a.selected] == ["72.5.72.15"]
    assert state.status is not None
    assert (state.status.synchronized, state.status.reference, state.status.stratum) == (
        True,
        "72.5.72.15",
        3,
    )
    assert state.status.offset_ms == pytest.approx(0.231)
    configured = [(s.address, s.prefer) for s in state.configured.servers]
    assert configured == [("0.debian.pool.ntp.org", False), ("72.5.72.15", True)]
    assert state.raw == tuple(raw.items())


def test_parse_timesyncd_merges_its_three_views() -> None:
    # Captures from different machines, put together to check which view each field
    # comes from: the most detailed first, synchronised only if all agree.
    raw = {
        "cat /etc/systemd/timesyncd.conf": "[Time]\n#NTP=\n",
        "cat /etc/systemd/timesyncd.conf.d/orch.conf": "[Time]\nNTP=216.239.35.8\n",
        "timedatectl timesync-status": TIMESYNC_STATUS_GOOGLE,
        "timedatectl show-timesync": SHOW_TIMESYNC_ARCH,
        "timedatectl": TIMEDATECTL_ARCH,
    }
    state = LinuxDriver().parse("lnx1", raw)
    assert state.status is not None and state.status.synchronized
    assert state.status.stratum == 2  # one below timesync-status's stratum-1 server
    assert state.status.offset_ms == pytest.approx(-5.224)  # timesync-status
    assert state.status.root_delay_ms == pytest.approx(177.398)  # only show-timesync has it
    assert [s.address for s in state.configured.servers] == ["216.239.35.8"]
    assert state.associations == ()  # SNTP: no association table


def test_parse_without_state_output_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no chronyc, ntpq or timedatectl output"):
        LinuxDriver().parse("lnx1", {"cat /etc/chrony/chrony.conf": DEBIAN_CHRONY_CONF})


def test_engine_rolls_back_byte_identical_when_the_reload_fails(tmp_path: Path) -> None:
    session = SandboxSession(
        tmp_path, "uid=0\ncomm=ntpd\ntool=ntpq\nfile=/etc/ntpsec/ntp.conf\nunit=ntpsec\n"
    )
    session.put("/etc/ntpsec/ntp.conf", NTPSEC_CONF, mode=0o640)
    session.fail_daemon_commands = 1  # the restart after the push fails, the next works
    options = PushOptions(backups_dir=tmp_path / "backups")
    result = push_host(session.host, run_id="run1", options=options, opener=lambda _: session)
    assert result.outcome is PushOutcome.ROLLED_BACK, result.reason
    assert "systemctl restart ntpsec" in result.reason and "501 Not authorised" in result.reason
    assert session.file("/etc/ntpsec/ntp.conf") == NTPSEC_CONF.encode()
    assert (tmp_path / "etc/ntpsec/ntp.conf").stat().st_mode & 0o777 == 0o640
    assert session.daemon_commands == ["systemctl restart ntpsec", "systemctl restart ntpsec"]


def test_a_desired_server_already_in_chrony_conf_is_flagged(tmp_path: Path) -> None:
    # Seen on a real chronyd 4.3: a sources.d entry for an address chrony.conf already has
    # is dropped on `reload sources` (the source keeps chrony.conf's options).
    session = SandboxSession(tmp_path, "uid=0\ncomm=chronyd\nfile=/etc/chrony/chrony.conf\n")
    session.put("/etc/chrony/chrony.conf", DEBIAN_CHRONY_CONF + "server 127.0.0.1 iburst\n")
    driver = LinuxDriver()
    backup = driver.backup(session)
    plan = driver.render(DesiredNtp(servers=(SERVER,)), driver.current(backup), backup)
    assert plan.warnings == (
        "/etc/chrony/chrony.conf also configures 2.debian.pool.ntp.org outside orch's "
        "settings; the host may select those instead",
        "/etc/chrony/chrony.conf already configures 127.0.0.1 outside orch's settings; "
        "the daemon keeps that entry and ignores orch's options for it",
    )


def test_a_daemon_that_does_not_answer_is_unsynchronised_not_unreadable() -> None:
    raw = {
        "cat /etc/chrony/chrony.conf": DEBIAN_CHRONY_CONF,
        "chronyc -n sources": "506 Cannot talk to daemon\n",  # chronyc's own wording
        "chronyc -n tracking": "506 Cannot talk to daemon\n",
    }
    state = LinuxDriver().parse("lnx1", raw)
    assert state.status is not None and not state.status.synchronized
    assert state.associations == ()
    assert state.warnings == (
        "the chrony daemon does not answer: `chronyc -n sources` said '506 Cannot talk to daemon'",
    )


def test_a_user_without_root_or_sudo_is_told_so(tmp_path: Path) -> None:
    session = SandboxSession(
        tmp_path, "uid=1000\ncomm=chronyd\nfile=/etc/chrony/chrony.conf\n", host=make_host("ops")
    )
    with pytest.raises(DeviceError, match="ops is not root and there is no sudo"):
        LinuxDriver().backup(session)


def test_ntpd_key_lines_per_variant() -> None:
    aes = NtpKey(3, "aes128", Secret("HEX:" + "0f" * 16))
    assert key_line(aes, "ntpd") == f"3 AES128CMAC {'0f' * 16}"
    assert key_line(aes, "ntpd", ntpsec=True) == f"3 aes-128 {'0f' * 16}"
    assert key_line(aes, "chrony") == f"3 AES128 HEX:{'0f' * 16}"
    short = NtpKey(4, "md5", Secret("ASCII:s3cret"))
    assert key_line(short, "ntpd") == "4 MD5 s3cret"  # <= 20 characters: read as ASCII
    with pytest.raises(DeviceError, match="cannot express key 5"):
        key_line(NtpKey(5, "md5", Secret("ASCII:a b")), "ntpd")
    with pytest.raises(DeviceError, match="cannot express key 6"):
        key_line(NtpKey(6, "md5", Secret("HEX:ff00")), "ntpd")
