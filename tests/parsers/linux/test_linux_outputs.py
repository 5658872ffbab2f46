"""Linux parsers beyond the capture cases: error outputs, empty answers, live chrony.

The case files next to this module cover the published captures. Here: the messages
the tools print instead of a table (each quoted from the tool's own source), and
chrony 4 itself, run on loopback, so that today's chronyc output is parsed as it
really is, not as someone once pasted it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.errors import ParseError
from orchestrator.parsing import guess_command, parse_output


def test_ntpd_no_associations_is_an_empty_list() -> None:
    # ntpq/ntpq-subs.c (ntp 4.2.8, e.g. freebsd/freebsd-src contrib/ntp/ntpq/ntpq-subs.c):
    # printf("No association ID's returned\n")
    parsed = parse_output("linux", "ntpq -pn", "No association ID's returned\n")
    assert parsed.associations == ()


def test_ntpsec_no_associations_is_an_empty_list() -> None:
    # ntpsec/ntpsec ntpclients/ntpq.py: say("server=%s " % hostname) when several
    # hosts are queried, then say("No association IDs returned\n").
    for text in ("No association IDs returned\n", "server=localhost No association IDs returned\n"):
        assert parse_output("linux", "ntpq -p", text).associations == ()


def test_ntpq_connection_refused_fails_on_line_1() -> None:
    # RedHatInsights/insights-core insights/parsers/tests/test_ntp_sources.py
    # (ntp_connection_issue): what ntpq prints when ntpd is not running.
    with pytest.raises(ParseError) as caught:
        parse_output("linux", "ntpq -pn", "/usr/sbin/ntpq: read: Connection refused\n")
    error = caught.value
    assert (error.platform, error.command, error.line) == ("linux", "ntpq -pn", 1)
    assert "Connection refused" in str(error)


def test_a_row_the_template_does_not_know_names_its_line() -> None:
    # jc's centos-7.7 ntpq -pn capture with a stray line appended after row 2.
    text = (
        "     remote           refid      st t when poll reach   delay   offset  jitter\n"
        "==============================================================================\n"
        "+44.190.6.254    127.67.113.92    2 u   66   64  377   22.690   -0.392   2.085\n"
        "ntpq: read: Connection refused\n"
    )
    with pytest.raises(ParseError) as caught:
        parse_output("linux", "ntpq -pn", text)
    assert caught.value.line == 4


def test_ntpq_wide_row_wraps_after_a_long_remote() -> None:
    # ntpq -w prints a remote longer than 15 characters alone, then the row indented by
    # 17 spaces: ntpq-subs.c doprintpeers() (freebsd/freebsd-src contrib/ntp/ntpq),
    #   fprintf(fp, "%c%s\\n%*s", c, clock_name, 1 + 15 + 1, "");
    #   ... fprintf(fp, " %2ld %c %4.4s %4.4s  %3lo  %7.7s %8.7s %7.7s\\n", ...)
    # The values are the windstream.net row of tests/parsers/linux/ntpq_-pn/
    # ntpgps_ntpsec_wide_remote.raw, printed in that layout.
    header = (
        "     remote           refid      st t when poll reach   delay   offset  jitter\n"
        "==============================================================================\n"
    )
    # printf formats on purpose: they are ntpq's own.
    row = "-%s\n%*s%-15s" % ("h69.41.139.40.ip.windstream.net", 17, "", ".GPS.")  # noqa: UP031
    row += " %2d %c %4.4s %4.4s  %3o  %7.7s %8.7s %7.7s\n" % (  # noqa: UP031
        1,
        "u",
        "128",
        "64",
        0o16,
        "82.7081",
        "5.4127",
        "1.0102",
    )
    text = header + row
    assert guess_command("linux", text) == "ntpq -pn"
    (peer,) = parse_output("linux", "ntpq -pn", text).associations or ()
    assert (peer.address, peer.refid, peer.stratum, peer.when_s, peer.poll_s) == (
        "h69.41.139.40.ip.windstream.net",
        ".GPS.",
        1,
        128,
        64,
    )
    assert (peer.reach, peer.delay_ms, peer.offset_ms, peer.state) == (
        14,
        82.7081,
        5.4127,
        "outlier",
    )


def test_chronyc_without_daemon_is_a_parse_error() -> None:
    # chrony client.c: "506 Cannot talk to daemon" (chrony < 4 reply code text).
    with pytest.raises(ParseError) as caught:
        parse_output("linux", "chronyc tracking", "506 Cannot talk to daemon\n")
    assert caught.value.line == 1


@pytest.mark.parametrize(
    "command", ["timedatectl", "timedatectl timesync-status", "timedatectl show-timesync"]
)
def test_timedatectl_without_systemd_is_a_parse_error(command: str) -> None:
    # What systemd 252 (Debian 12) prints in a container without systemd as PID 1,
    # captured on this project's build machine.
    text = (
        "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
        "Failed to connect to bus: Host is down\n"
    )
    with pytest.raises(ParseError) as caught:
        parse_output("linux", command, text)
    assert caught.value.line == 1


def test_tracking_cut_before_the_stratum_is_refused() -> None:
    case = Path(__file__).parent / "chronyc_tracking" / "chronydoc_hex_reference.raw"
    first_line = case.read_text(encoding="utf-8").splitlines(keepends=True)[0]
    with pytest.raises(ParseError):
        parse_output("linux", "chronyc tracking", first_line)


# --------------------------------------------------------------------------- live chrony


def _free_udp_port(address: str) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


class _Chronyd:
    """One `chronyd -x` (never touches the machine's clock) with its own socket."""

    def __init__(self, directory: Path, config: str) -> None:
        directory.mkdir(mode=0o700)
        self.socket = directory / "chronyd.sock"
        conf = directory / "chrony.conf"
        conf.write_text(
            config
            + f"cmdport 0\nbindcmdaddress {self.socket}\n"
            + f"pidfile {directory / 'chronyd.pid'}\ndriftfile {directory / 'drift'}\n"
        )
        self.process = subprocess.Popen(
            ["chronyd", "-x", "-d", "-u", "root", "-f", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def chronyc(self, *args: str) -> str:
        return subprocess.run(
            ["chronyc", "-h", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _wait_for(check: Callable[[], bool], deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if check():
                return
        except subprocess.CalledProcessError:
            pass  # the daemon has not opened its socket yet
        time.sleep(0.2)


@pytest.fixture
def chrony_dir(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root: chronyd keeps its command socket only for root here")
    if shutil.which("chronyd") is None or shutil.which("chronyc") is None:
        pytest.skip("chrony is not installed (apt-get install chrony)")
    tmp_path.chmod(0o700)  # chronyd refuses a command socket in a world-readable dir
    return tmp_path


@pytest.fixture(params=["127.0.0.1", "::1"])
def synced_client(
    request: pytest.FixtureRequest, chrony_dir: Path
) -> Iterator[tuple[str, _Chronyd]]:
    address: str = request.param
    port = _free_udp_port(address)
    server = _Chronyd(
        chrony_dir / "server",
        f"local stratum 8\nallow {address}\nbindaddress {address}\nport {port}\n",
    )
    client = _Chronyd(
        chrony_dir / "client",
        f"server {address} port {port} iburst minpoll -4 maxpoll -4\nport 0\n",
    )
    try:
        _wait_for(lambda: "^*" in client.chronyc("-n", "sources"), deadline_s=15)
        yield address, client
    finally:
        client.stop()
        server.stop()


@pytest.mark.root
def test_live_chrony_synchronised_to_a_loopback_server(
    synced_client: tuple[str, _Chronyd],
) -> None:
    address, client = synced_client
    sources_text = client.chronyc("-n", "sources")
    assert guess_command("linux", sources_text) == "chronyc -n sources"
    (source,) = parse_output("linux", "chronyc -n sources", sources_text).associations or ()
    assert source.address == address
    assert (source.selected, source.state, source.stratum) == (True, "sys.peer", 8)
    assert source.reach is not None and source.reach > 0
    assert source.poll_s is None  # minpoll -4: 1/16 s, below whole seconds
    assert source.offset_ms is not None and abs(source.offset_ms) < 50
    assert source.jitter_ms is not None and source.jitter_ms >= 0

    tracking_text = client.chronyc("-n", "tracking")
    assert guess_command("linux", tracking_text) == "chronyc tracking"
    status = parse_output("linux", "chronyc tracking", tracking_text).status
    assert status is not None
    assert status.synchronized
    assert status.stratum == 9
    assert status.reference == address
    assert status.leap == "none"
    assert status.offset_ms is not None and abs(status.offset_ms) < 50


@pytest.mark.root
def test_live_chrony_with_a_silent_server_is_unsynchronised(chrony_dir: Path) -> None:
    # A bound socket that never answers: packets go to loopback and vanish.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        client = _Chronyd(
            chrony_dir / "client",
            f"server 127.0.0.1 port {port} iburst minpoll -4 maxpoll -4\nport 0\n",
        )
        try:
            _wait_for(lambda: "^?" in client.chronyc("-n", "sources"), deadline_s=10)
            sources = parse_output("linux", None, client.chronyc("-n", "sources"))
            tracking = parse_output("linux", None, client.chronyc("tracking"))
        finally:
            client.stop()
    (source,) = sources.associations or ()
    assert (source.address, source.reach, source.state, source.selected) == (
        "127.0.0.1",
        0,
        "unreachable",
        False,
    )
    assert source.when_s is None  # LastRx "-": nothing received
    assert tracking.status is not None
    assert not tracking.status.synchronized
    assert tracking.status.reference is None
    assert tracking.status.stratum is None
    assert tracking.status.leap == "unsynchronised"


@pytest.mark.root
def test_live_chrony_symmetric_peer_is_mode_equals(chrony_dir: Path) -> None:
    # Two chronyds peering with each other (`peer`), one serving its local clock:
    # chronyc lists the other side with mode "=", not "^".
    port_a, port_b = _free_udp_port("127.0.0.1"), _free_udp_port("127.0.0.1")
    common = "bindaddress 127.0.0.1\nallow 127.0.0.1\n"
    a = _Chronyd(
        chrony_dir / "a",
        f"peer 127.0.0.1 port {port_b} minpoll -4 maxpoll -4\nport {port_a}\n{common}",
    )
    b = _Chronyd(
        chrony_dir / "b",
        f"peer 127.0.0.1 port {port_a} minpoll -4 maxpoll -4\nport {port_b}\n"
        f"local stratum 8\n{common}",
    )
    try:
        _wait_for(lambda: "=*" in a.chronyc("-n", "sources"), deadline_s=15)
        text = a.chronyc("-n", "sources")
    finally:
        a.stop()
        b.stop()
    assert "=*" in text
    (peer,) = parse_output("linux", "chronyc -n sources", text).associations or ()
    assert (peer.address, peer.selected, peer.state, peer.stratum) == (
        "127.0.0.1",
        True,
        "sys.peer",
        8,
    )
