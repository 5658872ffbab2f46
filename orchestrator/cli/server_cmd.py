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
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from orchestrator.cli.context import DEFAULT_INVENTORY, chosen_format, options
from orchestrator.errors import ConfigError, OrchError
from orchestrator.inventory import inventory_or_packaged_lab
from orchestrator.ntp.access import LOOPBACK
from orchestrator.serve.clientlog_store import ServerStatus, read_status
from orchestrator.serve.config import (
    ReferenceMode,
    ServerConfig,
    check_config,
    load_config_file,
    load_keys,
)
from orchestrator.serve.liveness import run_state
from orchestrator.serve.metrics import MetricsServer, ServerCollector, parse_listen, store_counters
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
        return _inventory_networks(options(ctx).inventory)
    except (OrchError, OSError, ImportError):
        return ()


def _inventory_networks(directory: Path) -> tuple[str, ...]:
    from orchestrator.inventory import load_inventory

    inventory = load_inventory(directory, resolve_secrets=False)
    return tuple(n for nets in inventory.site_networks().values() for n in nets)


# The options `server run` and `server install-unit` share, so that a unit can say
# exactly what `server run` would do, and both refuse the same things.
ListenOption = Annotated[
    list[str] | None,
    typer.Option(
        "--listen", "-l", help="Address to listen on (repeatable). Default: 0.0.0.0 and ::."
    ),
]
ReferenceOption = Annotated[
    Reference | None,
    typer.Option(
        "--reference",
        "-r",
        help="host: follow the host clock (adjtimex, chronyd); upstream: poll --upstream "
        "servers; local: free-running at --stratum. Default: host.",
    ),
]
StratumOption = Annotated[
    int | None,
    typer.Option("--stratum", help="Stratum of the local reference (1-15). Default: 10."),
]
UpstreamOption = Annotated[
    list[str] | None,
    typer.Option("--upstream", "-u", help="Upstream server ADDR or ADDR:PORT (repeatable)."),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="Server config file (TOML or YAML).")
]
KeysOption = Annotated[
    Path | None, typer.Option("--keys", help="Keys file, chrony/ntpd 'ID TYPE KEY' format.")
]
AllowOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow",
        help="Allow a CIDR network (repeatable); replaces the default "
        "(loopback + the inventory's site networks).",
    ),
]
DenyOption = Annotated[
    list[str] | None, typer.Option("--deny", help="Deny a CIDR network (repeatable).")
]
NoRatelimitOption = Annotated[
    bool, typer.Option("--no-ratelimit", help="Answer every request (benchmarks).")
]
RequireAuthOption = Annotated[
    bool, typer.Option("--require-auth", help="Drop requests without a valid MAC.")
]
ClientLogOption = Annotated[
    Path | None,
    typer.Option("--client-log", help="SQLite client log. Default: the orch data directory."),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Worker processes. Default: one per CPU core."),
]
NtsCertOption = Annotated[
    Path | None,
    typer.Option("--nts-cert", help="NTS (RFC 8915) on: NTS-KE certificate (chain), PEM."),
]
NtsKeyOption = Annotated[
    Path | None, typer.Option("--nts-key", help="The NTS-KE certificate's private key, PEM.")
]
NtsPortOption = Annotated[
    int | None,
    typer.Option("--nts-port", min=0, max=65535, help="NTS-KE TCP port. Default: 4460."),
]


@dataclass(frozen=True)
class _Given:
    """What the user gave to `server run` / `server install-unit` (None: not given)."""

    listen: list[str] | None = None
    port: int | None = None
    reference: Reference | None = None
    stratum: int | None = None
    upstream: list[str] | None = None
    config: Path | None = None
    keys: Path | None = None
    allow: list[str] | None = None
    deny: list[str] | None = None
    no_ratelimit: bool = False
    require_auth: bool = False
    client_log: Path | None = None
    workers: int | None = None
    nts_cert: Path | None = None
    nts_key: Path | None = None
    nts_port: int | None = None


def _resolve(given: _Given, site_networks: Callable[[], tuple[str, ...]]) -> ServerConfig:
    """The server configuration: defaults, then the config file, then the options; checked.
    The default allow list is loopback plus `site_networks()` (the inventory's)."""
    cfg = ServerConfig(listen=_default_listen(), workers=0)
    file_sets_allow = False
    if given.config is not None:
        before = cfg.allow
        cfg = load_config_file(given.config, cfg)
        file_sets_allow = cfg.allow != before
    if not given.allow and not file_sets_allow:
        cfg = cfg.with_overrides(allow=LOOPBACK + site_networks())
    cfg = cfg.with_overrides(
        listen=tuple(given.listen) if given.listen else None,
        port=given.port,
        reference=_reference_mode(given.reference),
        stratum=given.stratum,
        upstream=tuple(given.upstream) if given.upstream else None,
        keys_file=given.keys,
        allow=tuple(given.allow) if given.allow else None,
        deny=tuple(given.deny) if given.deny else None,
        client_log=given.client_log,
        workers=given.workers,
        require_auth=True if given.require_auth else None,
        nts_cert=given.nts_cert,
        nts_key=given.nts_key,
        nts_port=given.nts_port,
    )
    if given.no_ratelimit:
        cfg = replace(cfg, ratelimit=None)
    check_config(cfg)
    return cfg


@group.command("run")
def run(
    ctx: typer.Context,
    listen: ListenOption = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", "-p", min=0, max=65535, help="UDP port (0: any free port). Default: 123."
        ),
    ] = None,
    reference: ReferenceOption = None,
    stratum: StratumOption = None,
    upstream: UpstreamOption = None,
    config: ConfigOption = None,
    keys: KeysOption = None,
    allow: AllowOption = None,
    deny: DenyOption = None,
    no_ratelimit: NoRatelimitOption = False,
    require_auth: RequireAuthOption = False,
    client_log: ClientLogOption = None,
    workers: WorkersOption = None,
    nts_cert: NtsCertOption = None,
    nts_key: NtsKeyOption = None,
    nts_port: NtsPortOption = None,
    metrics_listen: Annotated[
        str | None,
        typer.Option(
            "--metrics-listen",
            help="Serve Prometheus /metrics on ADDRESS:PORT (e.g. 127.0.0.1:9123).",
        ),
    ] = None,
) -> None:
    """Run the NTP server until SIGTERM or Ctrl-C."""
    if metrics_listen is not None:
        parse_listen(metrics_listen)  # a bad value fails before the server starts
    given = _Given(
        listen, port, reference, stratum, upstream, config, keys, allow, deny,
        no_ratelimit, require_auth, client_log, workers, nts_cert, nts_key, nts_port,
    )  # fmt: skip
    cfg = _resolve(given, lambda: _site_networks(ctx))

    runner = NtpServerRunner(cfg)
    runner.start()
    err = options(ctx).err_console
    metrics: MetricsServer | None = None
    if metrics_listen is not None:
        try:
            metrics = MetricsServer(
                metrics_listen,
                ServerCollector(store_counters(cfg.client_log_path), lambda: runner.state),
            )
        except BaseException:
            runner.stop()
            raise

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
        f"client log {cfg.client_log_path}"
        + (f"; metrics on http://{_hostport(*metrics.address)}/metrics" if metrics else ""),
        markup=False,
    )
    if runner.nts_addresses:
        ke = ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in runner.nts_addresses)
        err.print(f"orch server: NTS-KE (TLS 1.3, ntske/1) on TCP {ke}", markup=False)
    try:
        runner.wait()
    finally:
        if metrics is not None:
            metrics.close()
        runner.stop()
        err.print("orch server: stopped", markup=False)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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


_TIME_KEYS = ("started", "stopped", "updated", "first_seen", "last_seen")


def _iso(value: Any) -> Any:
    """Unix seconds -> ISO 8601 UTC with milliseconds; anything else unchanged."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        stamp = datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds")
        return stamp.replace("+00:00", "Z")
    return value


def _iso_times(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if k in _TIME_KEYS else v for k, v in record.items()}


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
        "server": _server_json(status.meta),
        "counters": dict(status.counters),
        "clients": [_iso_times(asdict(c)) for c in status.clients],
    }


def _server_json(meta: Mapping[str, str]) -> dict[str, Any]:
    state = run_state(meta)
    server: dict[str, Any] = {
        **_iso_times(typed_meta(meta)),
        "state": state.text,
        "running": state.running,
    }
    if not state.running:  # the last run's reference state is no claim about now
        server["synchronised"] = False
        server["leap"] = 3
    return server


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
    """Who polls the server (like `chronyc clients`) and the server's counters.

    Exit status: 0 the server is running, 1 it is not (stopped, killed, or never
    started with this client log). The clients and counters shown are the last run's.
    """
    opts = options(ctx)
    path = client_log or ServerConfig().client_log_path
    given = output_format.value if output_format else None
    fmt = StatusFormat(chosen_format(opts, given, tuple(f.value for f in StatusFormat)))
    st = read_status(path)
    running = run_state(st.meta).running
    if fmt is StatusFormat.JSON:
        sys.stdout.write(json.dumps(_status_json(st, path), indent=2) + "\n")
        _exit_unless(running)
        return
    console = opts.console
    if not st.meta and not st.clients:
        console.print(f"No client log at {path} yet: has `orch server run` been started?")
        _exit_unless(running)
        return
    m = upgrade_meta(st.meta)
    state = run_state(m)
    where = (
        f"on {m.get('listen', '?')} (pid {m.get('pid', '?')}), reference {m.get('reference', '?')}"
    )
    if state.running:
        console.print(
            f"Server running {where}: stratum {m.get('stratum', '?')}, "
            f"refid {m.get('refid', '?')}, leap {m.get('leap', '?')}, "
            f"synchronised {m.get('synchronised', '?')}"
            + (f", started {_iso(float(m['started']))}" if m.get("started") else ""),
            markup=False,
        )
    else:  # what the reference was then says nothing about now: clients get no time
        console.print(f"Server {state.text}; it last ran {where}", markup=False)
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
    if st.counters:
        _print_counters(console, st.counters)
    _exit_unless(state.running)


def _print_counters(console: Console, values: Mapping[str, int]) -> None:
    counters = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="Server counters (this run)")
    counters.add_column("counter")
    counters.add_column("value", justify="right")
    for name, value in sorted(values.items()):
        counters.add_row(name, str(value))
    console.print(counters)


def _exit_unless(running: bool) -> None:
    if not running:
        raise typer.Exit(1)


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
    listen: ListenOption = None,
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="UDP port.")] = 123,
    reference: ReferenceOption = None,
    stratum: StratumOption = None,
    upstream: UpstreamOption = None,
    config: ConfigOption = None,
    keys: Annotated[
        Path | None,
        typer.Option("--keys", help="Keys file, handed to the service as a systemd credential."),
    ] = None,
    allow: AllowOption = None,
    deny: DenyOption = None,
    no_ratelimit: NoRatelimitOption = False,
    require_auth: RequireAuthOption = False,
    client_log: ClientLogOption = None,
    workers: WorkersOption = None,
    nts_cert: NtsCertOption = None,
    nts_key: NtsKeyOption = None,
    nts_port: NtsPortOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a systemd unit for `orch server run` (it never calls systemctl).

    The unit runs what `server run` with the same options would run here: the inventory
    (-i), listen addresses, allow/deny (default: loopback + the inventory's site
    networks), reference and upstreams are resolved now and written into ExecStart.
    Run it again with --force after changing any of them.
    """
    # A file the service cannot use must fail here, not at every start of the service; one
    # that is not there yet (deployed later) only gets a note.
    err = options(ctx).err_console
    checks: tuple[tuple[str, Path | None, Callable[[Path], object]], ...] = (
        ("--config", config, load_config_file),
        ("--keys", keys, load_keys),
    )
    for option, given_path, load in checks:
        if given_path is not None and given_path.exists():
            load(given_path)
        elif given_path is not None:
            err.print(
                f"note: {option} {given_path} does not exist yet; the service will not start "
                "until it does",
                markup=False,
            )
    inventory = inventory_or_packaged_lab(options(ctx).inventory).resolve()
    given = _Given(
        listen, port, reference, stratum, upstream,
        config if config is not None and config.exists() else None, keys, allow, deny,
        no_ratelimit, require_auth, client_log, workers, nts_cert, nts_key, nts_port,
    )  # fmt: skip
    # unlike `server run`, an inventory that does not load is an error here: the unit
    # would otherwise allow loopback only, and the site's devices would get no time
    cfg = _resolve(given, lambda: _inventory_networks(inventory))
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", hint="pass --force to overwrite it")
    keys_file = keys if keys is not None else cfg.keys_file
    command = [*_orch_command(), "--inventory", str(inventory), "server", "run"]
    command += _unit_arguments(cfg, config, client_log, workers)
    credentials: list[tuple[str, str]] = []
    if keys_file is not None:
        credentials.append(("ntp.keys", str(keys_file.resolve())))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            render_unit(
                command,
                credentials=credentials,
                keys_credential="ntp.keys" if keys_file is not None else None,
            )
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror}", hint="run as root or pass --path"
        ) from None
    if options(ctx).inventory == DEFAULT_INVENTORY and "ORCH_INVENTORY" not in os.environ:
        err.print(
            f"note: no --inventory given: the unit uses {inventory}; give -i DIR for your site",
            markup=False,
        )
    options(ctx).console.print(
        f"Wrote {path}. Enable it with: systemctl daemon-reload && "
        f"systemctl enable --now {path.stem}",
        markup=False,
    )


def _orch_command() -> list[str]:
    argv0 = Path(sys.argv[0])
    orch = str(argv0.resolve()) if argv0.name == "orch" else shutil.which("orch")
    return [orch] if orch else [sys.executable, "-m", "orchestrator"]


def _unit_arguments(
    cfg: ServerConfig, config: Path | None, client_log: Path | None, workers: int | None
) -> list[str]:
    """`server run` options that make the service run with `cfg` (resolved values)."""
    args = [a for host in cfg.listen for a in ("--listen", host)]
    args += ["--port", str(cfg.port), "--reference", cfg.reference]
    if cfg.reference != "upstream":
        args += ["--stratum", str(cfg.stratum)]
    args += [a for server in cfg.upstream for a in ("--upstream", server)]
    args += [a for net in cfg.allow for a in ("--allow", net)]
    args += [a for net in cfg.deny for a in ("--deny", net)]
    if config is not None:
        args += ["--config", str(config.resolve())]
    if cfg.ratelimit is None:
        args.append("--no-ratelimit")
    if cfg.require_auth:
        args.append("--require-auth")
    if client_log is not None:  # else the service's own data directory (ORCH_DATA_DIR)
        args += ["--client-log", str(client_log.resolve())]
    if workers is not None:
        args += ["--workers", str(workers)]
    if cfg.nts_cert is not None and cfg.nts_key is not None:
        args += ["--nts-cert", str(cfg.nts_cert.resolve()), "--nts-key", str(cfg.nts_key.resolve())]
        args += ["--nts-port", str(cfg.nts_port)]
    return args


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="server")
