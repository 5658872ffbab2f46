"""Real NTP clients (chronyd, chronyc, ntpdig) driven against our server, loopback only.

Every chronyd gets its own directory (config, pidfile, command socket), `port 0`
(no NTP server socket of its own) and `cmdport 0` (no UDP command port), and runs
with `-x` (never touches the system clock) or `-Q` (prints the offset only), so
it can neither disturb a system chronyd nor the host clock. Processes are killed
by their own PID.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHRONYD = shutil.which("chronyd") or "/usr/sbin/chronyd"
CHRONYC = shutil.which("chronyc") or "/usr/bin/chronyc"
NTPDIG = shutil.which("ntpdig") or "/usr/bin/ntpdig"


F = TypeVar("F", bound=Callable[..., Any])

# Poll every 0.25 s so a chronyd measures and selects in well under a second.
FAST = "minpoll -2 maxpoll -2"


def _have(path: str) -> bool:
    return Path(path).exists() and os.access(path, os.X_OK)


_skip_chrony = pytest.mark.skipif(
    not (_have(CHRONYD) and _have(CHRONYC) and os.geteuid() == 0),
    reason="needs root and the chrony package (chronyd, chronyc)",
)
_skip_ntpdig = pytest.mark.skipif(
    not (_have(NTPDIG) and shutil.which("unshare") and shutil.which("ip") and os.geteuid() == 0),
    reason="needs root, ntpsec-ntpdig, unshare and ip (ntpdig only talks to port 123)",
)


def needs_chrony(test: F) -> F:
    """@pytest.mark.root, skipped cleanly without root or chrony."""
    marked: F = pytest.mark.root(_skip_chrony(test))
    return marked


def needs_ntpdig(test: F) -> F:
    """@pytest.mark.root, skipped cleanly without root, ntpdig or unshare."""
    marked: F = pytest.mark.root(_skip_ntpdig(test))
    return marked


def private_dir(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    d.chmod(0o700)  # chronyd refuses a command socket in a directory others can reach
    return d


def chrony_conf(directory: Path, server_lines: Iterable[str], extra: Iterable[str] = ()) -> Path:
    conf = directory / "chrony.conf"
    conf.write_text(
        "\n".join(
            [
                *server_lines,
                f"pidfile {directory}/chronyd.pid",
                f"bindcmdaddress {directory}/chronyd.sock",
                "cmdport 0",
                "port 0",
                *extra,
            ]
        )
        + "\n"
    )
    return conf


def chronyd_oneshot(conf: Path, timeout_s: int = 10) -> tuple[int, str]:
    """`chronyd -Q`: measure once, print the offset, never set the clock."""
    out = subprocess.run(
        [CHRONYD, "-Q", "-u", "root", "-f", str(conf), "-t", str(timeout_s), "-L", "0"],
        capture_output=True,
        text=True,
        timeout=timeout_s + 10,
        check=False,
    )
    return out.returncode, out.stdout + out.stderr


_WRONG_BY = re.compile(r"System clock wrong by (-?\d+\.\d+) seconds")


def oneshot_offset_s(output: str) -> float | None:
    """The offset `chronyd -Q` measured ("System clock wrong by X seconds"), or None when it
    accepted no sample from the server."""
    m = _WRONG_BY.search(output)
    return float(m.group(1)) if m else None


class ChronydClient:
    """A continuous `chronyd -x` in the foreground, queried with chronyc on its own socket."""

    def __init__(self, directory: Path, conf: Path) -> None:
        self.directory = directory
        self.log = (directory / "chronyd.log").open("w")
        self.proc = subprocess.Popen(
            [CHRONYD, "-x", "-d", "-u", "root", "-f", str(conf), "-L", "0"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def chronyc(self, *args: str) -> str:
        out = subprocess.run(
            [CHRONYC, "-h", str(self.directory / "chronyd.sock"), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout + out.stderr

    def wait_for(self, predicate_text: str, *args: str, timeout_s: float = 40.0) -> str:
        """Poll `chronyc args` until its output contains `predicate_text`; return the output."""
        deadline = time.monotonic() + timeout_s
        out = ""
        while time.monotonic() < deadline:
            out = self.chronyc(*args)
            if predicate_text in out:
                return out
            time.sleep(0.5)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # our own child, by PID
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


# Runs inside a private network namespace: our server on 127.0.0.1:123, then ntpdig.
_NETNS_SCRIPT = r"""
import json, subprocess, sys
from pathlib import Path
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
from orchestrator.serve import NtpServerRunner, ServerConfig
import time
import ntplib
args = json.loads(sys.argv[1])
upstream = ()
runners = []
if args["reference"] == "upstream":  # a local stratum-3 server for ours to follow
    up = NtpServerRunner(ServerConfig(listen=("127.0.0.1",), port=0, reference="local",
                                      stratum=3, persist_client_log=False))
    runners.append(up)
    upstream = ("127.0.0.1:%d" % up.start()[0][1],)
cfg = ServerConfig(
    listen=("127.0.0.1",), port=123, reference=args["reference"], ratelimit=None,
    keys_file=Path(args["keys"]) if args["keys"] else None,
    client_log=Path(args["client_log"]), upstream=upstream,
    chronyc_socket=Path(args["chronyc_socket"]) if args["chronyc_socket"] else None,
)
server = NtpServerRunner(cfg)
runners.append(server)
server.start()
deadline = time.monotonic() + 30
while upstream and time.monotonic() < deadline:  # until ours follows its upstream
    if ntplib.NTPClient().request("127.0.0.1", port=123, timeout=1).leap != 3:
        break
    time.sleep(0.5)
try:
    out = subprocess.run(args["ntpdig"], capture_output=True, text=True, timeout=30)
finally:
    for r in reversed(runners):
        r.stop()
print(json.dumps({"rc": out.returncode, "stdout": out.stdout, "stderr": out.stderr}))
"""


def ntpdig_in_netns(
    tmp_path: Path,
    reference: str,
    ntpdig_args: list[str],
    keys: Path | None = None,
    chronyc_socket: Path | None = None,
) -> dict[str, object]:
    """Run our server on 127.0.0.1:123 and `ntpdig ARGS 127.0.0.1` in a fresh network namespace.

    `chronyc_socket` (host mode) may be a chronyd outside the namespace: a Unix socket
    path belongs to the file system, not to the network namespace.
    """
    import json

    spec = {
        "reference": reference,
        "keys": str(keys) if keys else "",
        "chronyc_socket": str(chronyc_socket) if chronyc_socket else "",
        "client_log": str(tmp_path / "netns-clients.sqlite"),
        "ntpdig": [NTPDIG, *ntpdig_args, "127.0.0.1"],
    }
    out = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-c", _NETNS_SCRIPT, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
