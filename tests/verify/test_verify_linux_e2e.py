"""verify a real Linux lab host (sshd + chronyd -x) synchronised to our in-process server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.engine.verify import verify_hosts
from orchestrator.lab.linux_hosts import LinuxHostInfo, LinuxHostPool, missing_requirements
from orchestrator.models import DesiredNtp, Host, NtpServerSpec, Verdict
from verify.test_verify_lab_e2e import InProcessServer

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(missing_requirements()), reason="; ".join(missing_requirements()) or "usable"
    ),
]


@pytest.fixture()
def linux_host(tmp_path: Path) -> Iterator[tuple[LinuxHostInfo, InProcessServer]]:
    server = InProcessServer(tmp_path / "server-clients.sqlite")
    pool = LinuxHostPool(
        tmp_path / "state",
        1,
        base_address="127.0.2.151",
        ntp_servers=[("127.0.0.1", server.port)],
        ssh_port=0,
    )
    try:
        (info,) = pool.start()
        yield info, server
    finally:
        pool.stop()
        server.stop()


def test_real_chrony_host_is_compliant_on_both_sides(
    linux_host: tuple[LinuxHostInfo, InProcessServer], tmp_path: Path
) -> None:
    info, server = linux_host
    host = Host(
        name=info.name,
        hostname=info.address,
        platform="linux",
        port=int(info.port),
        username=info.username,
        password=None,
        site="lab",
        groups=(),
        desired=DesiredNtp(servers=(NtpServerSpec("127.0.0.1", port=server.port),)),
        ssh_key_file=str(info.key_file),
    )
    run = verify_hosts(
        [host],
        wait_s=60,
        poll_interval_s=2.0,
        client_log_path=server.log_path,
        known_hosts=tmp_path / "known_hosts",
        accept_new_host_keys=True,
    )
    (v,) = run.verdicts
    assert v.verdict is Verdict.COMPLIANT, f"{v.reason} {v.checks}"
    assert v.peer == "127.0.0.1" and v.state is not None
    # chronyd's own answers: `tracking` names our server (`sources` is read a moment
    # earlier and may still show it as a candidate just before selection).
    raw = dict(v.state.raw)
    assert "127.0.0.1" in raw["chronyc -n sources"]
    assert v.state.status is not None and v.state.status.reference == "127.0.0.1"
    assert any(c.name == "server-log" and c.passed for c in v.checks)
