"""`orch server`: run the site NTP server, show who polls it, install it as a service."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from orchestrator.cli.context import options
from orchestrator.errors import ConfigError, OrchError
from orchestrator.ntp.access import LOOPBACK
from orchestrator.serve.clientlog_store import ServerStatus, read_status
from orchestrator.serve.config import ReferenceMode, ServerConfig, load_config_file, load_keys
from orchestrator.serve.runner import NtpServerRunner, typed_meta, upgrade_meta
from orchestrator.serve.unit import DEFAULT_UNIT_PATH, render_unit

group = typer.Typer(help="Run the site NTP server and inspect its clients.", no_args_is_help=True)


class StatusFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


class Reference(StrEnum):
    HOST = "host"
    UPSTREAM = "upstream"
    LOCAL = "local"


def _default_listen() -> tuple[str, ...]:
    if socket.has_ipv6 and Path("/proc/net/if_inet6").exists():
        return ("0.0.0.0", "::")
    return ("0.0.0.0",)


def _site_networks(ctx: typer.Context) -> tuple[str, ...]:
    """The inventory's site networks, if an inventory loads; () otherwise (never fails)."""
    try:
        from orchestrator.inventory import load_inventory

        inventory = load_inventory(options(ctx).inventory, resolve_secrets=False)
        return tuple(n for nets in inventory.site_networks().values() for n in nets)
    except (OrchError, OSError, ImportError):
        return ()


@group.command("run")
def run(
    ctx: typer.Context,
    listen: Annotated[
        list[str] | None,
        typer.Option(
            "--listen", "-l", help="Address to listen on (repeatable). Default: 0.0.0.0 and ::."
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", "-p", min=0, max=65535, help="UDP port (0: any free port). Default: 123."
        ),
    ] = None,
    reference: Annotated[
        Reference | None,
        typer.Option(
            "--reference",
            "-r",
            help="host: follow the host clock (adjtimex, chronyd); upstream: poll --upstream "
            "servers; local: free-running at --stratum. Default: host.",
        ),
    ] = None,
    stratum: Annotated[
        int | None,
        typer.Option("--stratum", help="Stratum of the local reference (1-15). Default: 10."),
    ] = None,
    upstream: Annotated[
        list[str] | None,
        typer.Option("--upstream", "-u", help="Upstream server ADDR or ADDR:PORT (repeatable)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Server config file (TOML or YAML).")
    ] = None,
    keys: Annotated[
        Path | None, typer.Option("--keys", help="Keys file, chrony/ntpd 'ID TYPE KEY' format.")
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            help="Allow a CIDR network (repeatable); replaces the default "
            "(loopback + the inventory's site networks).",
        ),
    ] = None,
    deny: Annotated[
        list[str] | None, typer.Option("--deny", help="Deny a CIDR network (repeatable).")
    ] = None,
    no_ratelimit: Annotated[
        bool, typer.Option("--no-ratelimit", help="Answer every request (benchmarks).")
    ] = False,
    require_auth: Annotated[
        bool, typer.Option("--require-auth", help="Drop requests without a valid MAC.")
    ] = False,
    client_log: Annotated[
        Path | None,
        typer.Option("--client-log", help="SQLite client log. Default: the orch data directory."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Worker processes. Default: one per CPU core."),
    ] = None,
    nts_cert: Annotated[
        Path | None,
        typer.Option("--nts-cert", help="NTS (RFC 8915) on: NTS-KE certificate (chain), PEM."),
    ] = None,
    nts_key: Annotated[
        Path | None, typer.Option("--nts-key", help="The NTS-KE certificate's private key, PEM.")
    ] = None,
    nts_port: Annotated[
        int | None,
        typer.Option("--nts-port", min=0, max=65535, help="NTS-KE TCP port. Default: 4460."),
    ] = None,
) -> None:
    """Run the NTP server until SIGTERM or Ctrl-C."""
    cfg = ServerConfig(listen=_default_listen(), workers=0)
    file_sets_allow = False
    if config is not None:
        before = cfg.allow
        cfg = load_config_file(config, cfg)
        file_sets_allow = cfg.allow != before
    if not allow and not file_sets_allow:
        cfg = cfg.with_overrides(allow=LOOPBACK + _site_networks(ctx))
    cfg = cfg.with_overrides(
        listen=tuple(listen) if listen else None,
        port=port,
        reference=_reference_mode(reference),
        stratum=stratum,
        upstream=tuple(upstream) if upstream else None,
        keys_file=keys,
        allow=tuple(allow) if allow else None,
        deny=tuple(deny) if deny else None,
        client_log=client_log,
        workers=workers,
        require_auth=True if require_auth else None,
        nts_cert=nts_cert,
        nts_key=nts_key,
        nts_port=nts_port,
    )
    if no_ratelimit:
        cfg = replace(cfg, ratelimit=None)
    if cfg.stratum is not None and not 1 <= cfg.stratum <= 15:
        raise ConfigError(f"--stratum {cfg.stratum} is out of range", hint="use 1..15")

    runner = NtpServerRunner(cfg)
    runner.start()
    err = options(ctx).err_console

    def _stop(signum: int, _frame: FrameType | None) -> None:
        runner.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    state = runner.state
    where = ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in runner.addresses)
    sync = "synchronised" if state is not None and state.synchronised else "UNSYNCHRONISED (LI=3)"
    err.print(
        f"orch server: listening on {where}; reference {cfg.reference}, {sync}; "
        f"{cfg.worker_count} worker(s); rate limit {'on' if cfg.ratelimit else 'off'}; "
        f"allow {_summary(cfg.allow)}; deny {_summary(cfg.deny)}; "
        f"client log {cfg.client_log_path}",
        markup=False,
    )
    if runner.nts_addresses:
        ke = ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in runner.nts_addresses)
        err.print(f"orch server: NTS-KE (TLS 1.3, ntske/1) on TCP {ke}", markup=False)
    try:
        runner.wait()
    finally:
        runner.stop()
        err.print("orch server: stopped", markup=False)


def _summary(networks: tuple[str, ...], shown: int = 6) -> str:
    if not networks:
        return "none"
    more = f" (+{len(networks) - shown} more)" if len(networks) > shown else ""
    return ", ".join(networks[:shown]) + more


def _reference_mode(value: Reference | None) -> ReferenceMode | None:
    if value is None:
        return None
    mode: ReferenceMode = value.value
    return mode


# ---------------------------------------------------------------------- status


def _interval_log2(requests: int, first: float, last: float) -> str:
    """chronyc clients' "Int": log2 of the average interval between requests."""
    if requests < 2 or last <= first:
        return "-"
    return str(round(math.log2((last - first) / (requests - 1))))


def _ago(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _run_state(meta: Mapping[str, str]) -> str:
    """ "running", "stopped", or "not running" when the recorded process is gone (killed)."""
    # "stopped" stays in the log from an earlier run; it counts only if it is newer
    # than this run's start.
    if _stamp(meta, "stopped") >= _stamp(meta, "started") > 0:
        return "stopped"
    try:
        os.kill(int(meta.get("pid", "")), 0)  # signal 0: does the process exist?
    except (ValueError, ProcessLookupError):
        return "not running (it did not stop cleanly)"
    except PermissionError:
        pass  # exists, owned by another user
    return "running"


def _stamp(meta: Mapping[str, str], key: str) -> float:
    try:
        return float(meta.get(key, "0"))
    except ValueError:
        return 0.0


def _nts_summary(meta: Mapping[str, str], counters: Mapping[str, int]) -> str | None:
    """One line of NTS counters, when this run serves NTS (None otherwise)."""
    where = meta.get("nts", "off")
    if where == "off" and not any(k.startswith("nts-") for k in counters):
        return None
    c = {k: counters.get(k, 0) for k in (
        "nts-ke-sessions", "nts-ke-errors", "nts-requests", "nts-cookies", "nts-auth-failures"
    )}  # fmt: skip
    return (
        f"NTS-KE on {where}: {c['nts-ke-sessions']} sessions ({c['nts-ke-errors']} failed); "
        f"{c['nts-requests']} NTS requests, {c['nts-cookies']} cookies issued, "
        f"{c['nts-auth-failures']} authentication failures"
    )


def _status_json(status: ServerStatus, path: Path) -> dict[str, Any]:
    return {
        "client_log": str(path),
        "server": {**typed_meta(status.meta), "state": _run_state(status.meta)},
        "counters": dict(status.counters),
        "clients": [asdict(c) for c in status.clients],
    }


@group.command("status")
def status(
    ctx: typer.Context,
    client_log: Annotated[
        Path | None,
        typer.Option("--client-log", help="SQLite client log. Default: the orch data directory."),
    ] = None,
    output_format: Annotated[
        StatusFormat | None, typer.Option("--format", "-f", help="table (default) or json.")
    ] = None,
) -> None:
    """Who polls the server (like `chronyc clients`) and the server's counters."""
    opts = options(ctx)
    path = client_log or ServerConfig().client_log_path
    fmt = output_format or StatusFormat(opts.output_format or "table")
    st = read_status(path)
    if fmt is StatusFormat.JSON:
        sys.stdout.write(json.dumps(_status_json(st, path), indent=2) + "\n")
        return
    console = opts.console
    if not st.meta and not st.clients:
        console.print(f"No client log at {path} yet: has `orch server run` been started?")
        return
    m = upgrade_meta(st.meta)
    running = _run_state(m)
    console.print(
        f"Server {running} on {m.get('listen', '?')} (pid {m.get('pid', '?')}), "
        f"reference {m.get('reference', '?')}: stratum {m.get('stratum', '?')}, "
        f"refid {m.get('refid', '?')}, leap {m.get('leap', '?')}, "
        f"synchronised {m.get('synchronised', '?')}",
        markup=False,
    )
    nts_line = _nts_summary(m, st.counters)
    if nts_line:
        console.print(nts_line, markup=False)
    now = time.time()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=f"Clients ({path})")
    for header in ("Hostname", "NTP", "Resp", "Drop", "KoD", "Int", "Last", "Key", "NTS"):
        table.add_column(header, justify="left" if header == "Hostname" else "right")
    for c in st.clients:
        table.add_row(
            c.address,
            str(c.requests),
            str(c.responses),
            str(c.drops),
            str(c.kods),
            _interval_log2(c.requests, c.first_seen, c.last_seen),
            _ago(now - c.last_seen),
            "-" if c.key_id is None else str(c.key_id),
            str(c.nts),
        )
    if st.clients:
        console.print(table)
    else:  # an empty table reads like a broken one
        console.print(f"No clients in {path} yet.", markup=False)
    if not st.counters:
        return
    counters = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="Server counters (this run)")
    counters.add_column("counter")
    counters.add_column("value", justify="right")
    for name, value in sorted(st.counters.items()):
        counters.add_row(name, str(value))
    console.print(counters)


# ---------------------------------------------------------------------- NTS


@group.command("nts-cert")
def nts_cert_cmd(
    ctx: typer.Context,
    cert: Annotated[Path, typer.Option("--cert", help="Where to write the certificate (PEM).")],
    key: Annotated[Path, typer.Option("--key", help="Where to write the private key (PEM, 0600).")],
    name: Annotated[
        list[str],
        typer.Option("--name", help="DNS name or IP address clients use (repeatable)."),
    ],
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="Validity.")] = 825,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Make a self-signed NTS-KE certificate (clients trust it with chrony's ntstrustedcerts)."""
    from orchestrator.serve.ntscert import write_self_signed

    for path in (cert, key):
        if path.exists() and not force:
            raise ConfigError(f"{path} already exists", hint="pass --force to overwrite it")
    write_self_signed(cert, key, name, days)
    options(ctx).console.print(
        f"Wrote {cert} and {key} for {', '.join(name)}. Serve it with: orch server run "
        f"--nts-cert {cert} --nts-key {key}; clients: server NAME iburst nts, "
        f"ntstrustedcerts {cert}",
        markup=False,
    )


# ---------------------------------------------------------------------- install-unit


@group.command("install-unit")
def install_unit(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Option("--path", help="Where to write the unit file.")
    ] = DEFAULT_UNIT_PATH,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config file the service should use.")
    ] = None,
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="UDP port.")] = 123,
    reference: Annotated[
        Reference, typer.Option("--reference", "-r", help="host, upstream or local.")
    ] = Reference.HOST,
    keys: Annotated[
        Path | None,
        typer.Option("--keys", help="Keys file, handed to the service as a systemd credential."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a systemd unit for `orch server run` (it never calls systemctl)."""
    # A file the service cannot use must fail here, not at every start of the service; one
    # that is not there yet (deployed later) only gets a note.
    checks: tuple[tuple[str, Path | None, Callable[[Path], object]], ...] = (
        ("--config", config, load_config_file),
        ("--keys", keys, load_keys),
    )
    for option, given, load in checks:
        if given is not None and given.exists():
            load(given)
        elif given is not None:
            options(ctx).err_console.print(
                f"note: {option} {given} does not exist yet; the service will not start "
                "until it does",
                markup=False,
            )
    argv0 = Path(sys.argv[0])
    orch = str(argv0.resolve()) if argv0.name == "orch" else shutil.which("orch")
    command = [orch] if orch else [sys.executable, "-m", "orchestrator"]
    command += ["server", "run", "--port", str(port), "--reference", reference.value]
    if config is not None:
        command += ["--config", str(config.resolve())]
    credentials: list[tuple[str, str]] = []
    if keys is not None:
        credentials.append(("ntp.keys", str(keys.resolve())))
        command += ["--keys", "%d/ntp.keys"]  # %d: the service's credentials directory
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", hint="pass --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_unit(command, credentials=credentials))
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror}", hint="run as root or pass --path"
        ) from None
    options(ctx).console.print(
        f"Wrote {path}. Enable it with: systemctl daemon-reload && "
        f"systemctl enable --now {path.stem}",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="server")
