"""A real Linux lab host (sshd + chronyd -x in its own namespaces) pushed with NTS on by
orch's push engine, then judged by orch's verify engine against our NTS server: compliant,
with `chronyc -N authdata` and our client log's NTS count as the evidence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.drivers.linux.chrony import AUTHDATA as CHRONY_AUTHDATA
from orchestrator.engine.push import PushOptions, push_host
from orchestrator.engine.verify import verify_hosts
from orchestrator.lab.linux_hosts import LinuxHostInfo, LinuxHostPool, missing_requirements
from orchestrator.models import DesiredNtp, Host, NtpServerSpec, PushOutcome, Verdict
from orchestrator.serve.clientlog_store import read_client_log
from orchestrator.serve.config import ServerConfig
from orchestrator.serve.ntscert import write_self_signed
from orchestrator.serve.runner import NtpServerRunner

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        bool(missing_requirements()), reason="; ".join(missing_requirements()) or "usable"
    ),
]


@pytest.fixture
def nts_server(tmp_path: Path) -> Iterator[tuple[NtpServerRunner, Path]]:
    cert, key = tmp_path / "nts.crt", tmp_path / "nts.key"
    write_self_signed(cert, key, ["127.0.0.1"])
    config = ServerConfig(
        listen=("127.0.0.1",),
        port=0,
        reference="local",
        stratum=8,
        ratelimit=None,  # the lab host polls 4 times a second
        client_log=tmp_path / "clients.sqlite",
        workers=1,
        flush_interval_s=0.2,
        nts_cert=cert,
        nts_key=key,
        nts_port=0,
        nts_keys_file=tmp_path / "nts-keys.json",
    )
    with NtpServerRunner(config) as runner:
        yield runner, cert


@pytest.fixture
def lab_host(tmp_path: Path) -> Iterator[LinuxHostInfo]:
    pool = LinuxHostPool(tmp_path / "lab", 1, base_address="127.0.2.141", ssh_port=0)
    try:
        (info,) = pool.start()
        yield info
    finally:
        pool.stop()


def test_lab_host_pushed_with_nts_is_compliant_with_nts_evidence(
    tmp_path: Path, nts_server: tuple[NtpServerRunner, Path], lab_host: LinuxHostInfo
) -> None:
    server, cert = nts_server
    ((_, port),) = server.addresses
    ((_, ke_port),) = server.nts_addresses
    spec = NtpServerSpec(
        "127.0.0.1", port=port, prefer=True, minpoll=-2, maxpoll=0, nts=True, nts_port=ke_port
    )
    host = Host(
        name=lab_host.name,
        hostname=lab_host.address,
        platform="linux",
        port=lab_host.port,
        username=lab_host.username,
        password=None,
        site="lab",
        groups=(),
        desired=DesiredNtp(servers=(spec,), nts_ca=cert.read_text()),
        ssh_key_file=str(lab_host.key_file),
    )
    kh = tmp_path / "kh"
    options = PushOptions(known_hosts=kh, accept_new_host_keys=True, backups_dir=tmp_path / "b")
    pushed = push_host(host, run_id="run1", options=options)
    assert pushed.outcome is PushOutcome.CHANGED, pushed.reason
    assert f"+server 127.0.0.1 port {port} iburst prefer minpoll -2 maxpoll 0 nts" in pushed.diff
    assert "+ntstrustedcerts /etc/chrony/orch-nts-ca.crt" in pushed.diff
    again = push_host(host, run_id="run2", options=options)
    assert again.outcome is PushOutcome.UNCHANGED, again.reason

    run = verify_hosts(
        [host],
        client_log_path=server.config.client_log_path,
        wait_s=40,
        poll_interval_s=0.5,
        known_hosts=kh,
    )
    (verdict,) = run.verdicts
    assert verdict.verdict is Verdict.COMPLIANT, (verdict.reason, verdict.checks)
    (nts,) = [c for c in verdict.checks if c.name == "nts"]
    assert nts.passed and "NTS requests in our client log" in nts.actual, nts
    assert verdict.state is not None and verdict.state.nts_sources == ("127.0.0.1",)
    authdata = dict(verdict.state.raw)[CHRONY_AUTHDATA]
    assert " NTS " in authdata and " 256 " in authdata
    (entry,) = [e for e in read_client_log(server.config.client_log_path)
                if e.address == lab_host.address]  # fmt: skip
    assert entry.nts > 0
