"""What `--help` shows beyond each command's own text: examples, the environment, and
option values named for what they are (ADDR, N, PATH) rather than Python types.

Applied to the click command tree once per invocation (cli.app.run), so the command
modules keep only their own help text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ENVIRONMENT = (
    "Environment:",
    "  ORCH_DATA_DIR  where orch keeps its history, client log, backups, known_hosts and "
    "lab state (default: ~/.local/share/orch)",
    "  ORCH_INVENTORY  the inventory directory when -i is not given",
    "  ORCH_KEEP_DAYS, ORCH_KEEP_EVIDENCE_DAYS  verify's --keep-days, --keep-evidence-days",
    "  ORCH_LAB_PASSWORD  the simulated lab devices' password (default: orch-lab)",
    "  NO_COLOR  no colours in output",
    "  ${env:NAME}  every variable the inventory references for a secret (e.g. "
    "ORCH_PASSWORD); scheduled runs read them from `schedule install`'s --env-file",
    "Exit status: 0 all good, 1 some device not compliant or failed (server status: not "
    "running), 2 usage or input error, 3 internal error.",
)

# Shown under "Examples" in each command's --help; keyed by the command path.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "orch demo",
        "orch -i inventories/example inventory check",
        "orch -i inventories/example push --site hq --dry-run",
        "orch -i inventories/example verify --site hq",
    ),
    "parse": (
        "orch parse show_ntp_assoc.txt --platform cisco_ios",
        "orch parse *.txt --platform linux --command 'chronyc -n sources' --format table",
    ),
    "push": (
        "orch -i inventories/example push --site hq --dry-run",
        "orch -i inventories/example push --host hq-core1 --accept-new-host-keys -f json",
    ),
    "verify": (
        "orch -i inventories/example verify --site hq",
        "orch verify --host lab-rtr1 --wait 120 --format json",
    ),
    "report": (
        "orch report --since 7d --format html --out ntp-report.html",
        "orch report --site hq --format prometheus --out /var/lib/node_exporter/orch.prom",
    ),
    "demo": ("orch demo",),
    "inventory": ("orch inventory check inventories/example",),
    "inventory check": ("orch inventory check inventories/example",),
    "inventory show": ("orch -i inventories/example inventory show --site hq --format json",),
    "inventory import": ("orch inventory import ansible hosts.ini --out inventories/mine",),
    "inventory import ansible": (
        "orch inventory import ansible hosts.ini --out inventories/mine --ntp-server 192.0.2.10",
    ),
    "server": ("orch server run --listen 192.0.2.10", "orch server status"),
    "server run": (
        "orch server run --listen 192.0.2.10 --reference host",
        "orch server run -l 127.0.0.1 -p 1123 --reference local --stratum 8",
        "orch server run --reference upstream -u 192.0.2.1 -u 192.0.2.2 --keys ntp.keys",
    ),
    "server status": ("orch server status", "orch server status --format json"),
    "server install-unit": (
        "orch -i /etc/orch/inventory server install-unit --listen 192.0.2.10",
        "orch server install-unit --reference upstream -u 192.0.2.1 --path ./orch.service",
    ),
    "lab": ("orch lab up", "orch lab status", "orch lab down"),
    "lab up": ("orch lab up", "orch lab up --devices 50 --foreground"),
    "lab status": ("orch lab status --format json",),
    "lab down": ("orch lab down",),
    "schedule": ("orch schedule install --every 1h --site hq", "orch schedule remove"),
    "schedule install": (
        "orch -i /etc/orch/inventory schedule install --every 1h --site hq "
        "--report-dir /var/lib/orch/reports",
        "orch schedule install --method cron --every 15m --env-file ~/.config/orch/schedule.env",
    ),
    "schedule run": ("orch schedule run --report-dir /var/lib/orch/reports",),
    "schedule remove": ("orch schedule remove",),
    "check": (
        "orch check --site hq",
        "orch check --host hq-core1 -w 0.05 -c 0.5",
        "orch check --site hq --live",
    ),
    "db": ("orch db status", "orch --db postgresql://orch@db.example.net/ntp db upgrade"),
    "db status": ("orch db status", "orch db status --db postgresql://orch@db/ntp -f json"),
    "db upgrade": ("orch db upgrade", "orch --db postgresql://orch@db.example.net/ntp db upgrade"),
    "server nts-cert": (
        "orch server nts-cert --cert nts.crt --key nts.key --name ntp.example.org",
        "orch server nts-cert --cert nts.crt --key nts.key --name localhost --name 127.0.0.1",
    ),
}

# What an option's value is, by option name, where the name alone does not say it.
_METAVARS = {
    "listen": "ADDR",
    "upstream": "ADDR[:PORT]",
    "allow": "CIDR",
    "deny": "CIDR",
    "host": "NAME",
    "site": "NAME",
    "group": "NAME",
    "since": "SPAN",
    "every": "SPAN",
}


def tidy(command: Any, path: str = "") -> None:
    """Examples (and, at the root, the environment) as each command's epilog; option
    values named, flags without a type."""
    examples = EXAMPLES.get(path, ())
    blocks = ["\n".join(["Examples:", *(f"  {e}" for e in examples)])] if examples else []
    if path == "":
        blocks.append("\n".join(ENVIRONMENT))
    if blocks:
        command.epilog = "\n\n".join(blocks)
    _flag_help(command)
    for param in command.params:
        if param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None  # the name says it: FILES...
        elif getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = _metavar(param)
    for name, sub in getattr(command, "commands", {}).items():
        tidy(sub, f"{path} {name}".strip())


def _flag_help(command: Any) -> None:
    """--help is a flag: no type shown (click makes the option when asked for it)."""
    make = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option


def _metavar(param: Any) -> str:
    name = (param.name or "value").lower()
    if name in _METAVARS:
        return _METAVARS[name]
    desc = getattr(param, "type_descriptor", None)
    if desc is not None and desc.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    annotation = getattr(desc, "annotation", None)
    if annotation is int or getattr(desc, "is_ranged", False):
        return "N"
    if annotation is float:
        return "SECONDS" if "wait" in name or "timeout" in name else "NUMBER"
    if getattr(desc, "is_path", False) or annotation is Path:
        return "PATH"
    return name.upper().replace("_", "-")
