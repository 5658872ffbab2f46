"""Alerts on change: when a stored run flips a device between compliant and anything
else, tell someone, by webhook (a JSON POST) and/or a command hook (JSON on stdin).

    changes = verdict_changes(previous, stored_run)       # pure
    failures = deliver(changes, targets_for, ledger)      # I/O; never raises

Targets come from the inventory (`data: notify_webhook`, `data: notify_command`, in
defaults.yaml for everyone or on a group or host) and from a TOML config file
(`webhook = [...]`, `command = [...]`). Each notification goes out once per target:
a ledger in the data directory remembers what was sent (deduplication), and a
target that fails is reported back, never raised, so it never fails the run.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.models import Host, Verdict
from orchestrator.store.records import StoredRun
from orchestrator.store.target import StoreTarget

TIMEOUT_S = 5.0
LEDGER_KEEP = 5000  # event keys remembered for deduplication
_ISO = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Notification:
    host: str
    site: str
    platform: str
    old_verdict: str
    new_verdict: str
    reason: str
    run_id: int
    time: str  # ISO 8601 UTC: when the run that saw the change started

    @property
    def key(self) -> str:
        """One event: this device's change in this run."""
        raw = f"{self.run_id}\0{self.host}\0{self.old_verdict}\0{self.new_verdict}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def payload(self) -> dict[str, Any]:
        return {
            "event": "verdict-changed",
            "host": self.host,
            "site": self.site,
            "platform": self.platform,
            "old_verdict": self.old_verdict,
            "new_verdict": self.new_verdict,
            "complies": self.new_verdict == Verdict.COMPLIANT.value,
            "reason": self.reason,
            "run_id": self.run_id,
            "time": self.time,
        }


@dataclass(frozen=True)
class Targets:
    webhooks: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()

    def __add__(self, other: Targets) -> Targets:
        return Targets(
            tuple(dict.fromkeys(self.webhooks + other.webhooks)),
            tuple(dict.fromkeys(self.commands + other.commands)),
        )

    def __bool__(self) -> bool:
        return bool(self.webhooks or self.commands)


def verdict_changes(previous: Mapping[str, str], run: StoredRun) -> list[Notification]:
    """Devices of `run` that went from compliant to anything else, or back, against
    `previous` (host -> its verdict in the run before). A device seen for the first
    time has nothing to change from."""
    import datetime as _dt

    at = _dt.datetime.fromtimestamp(run.started_at, _dt.UTC).strftime(_ISO)
    out = []
    for d in run.devices:
        old = previous.get(d.host)
        if old is None or old == d.verdict.value:
            continue
        if (old == Verdict.COMPLIANT.value) == d.complies:
            continue  # one non-compliant verdict to another: not a compliance change
        out.append(
            Notification(d.host, d.site, d.platform, old, d.verdict.value, d.reason, run.id, at)
        )
    return out


def previous_verdicts(runs: Iterable[StoredRun]) -> dict[str, str]:
    """host -> verdict in the latest of `runs` (oldest first) that judged the host."""
    latest: dict[str, str] = {}
    for run in runs:
        for d in run.devices:
            latest[d.host] = d.verdict.value
    return latest


def host_targets(host: Host) -> Targets:
    """What the inventory configures for this host (inherited from defaults and groups)."""
    webhook, command = host.data_get("notify_webhook"), host.data_get("notify_command")
    return Targets((webhook,) if webhook else (), (command,) if command else ())


def load_targets(path: Path) -> Targets:
    """A notify config file (TOML): `webhook = "URL" or [...]`, `command = "CMD" or [...]`."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the notify config ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"webhook", "command"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {sorted(unknown)[0]!r}", hint="use 'webhook' and 'command'"
        )
    lists = {}
    for key in ("webhook", "command"):
        value = doc.get(key, [])
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{path}: {key} must be a string or a list of strings")
        lists[key] = tuple(value)
    for url in lists["webhook"]:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(f"{path}: webhook {_where(url)!r} is not an http(s) URL")
    return Targets(lists["webhook"], lists["command"])


def _program(command: str) -> str:
    try:
        return (shlex.split(command) or [command])[0]
    except ValueError:  # unbalanced quotes: run_command reports it
        return command.split()[0] if command.split() else command


def _where(url: str) -> str:
    """A webhook named without its path or query (they may carry a token)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class Ledger:
    """Event keys already delivered to a target, in a small JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._sent: dict[str, None] = {}
        if path is not None and path.exists():
            try:
                self._sent = dict.fromkeys(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                self._sent = {}  # an unreadable ledger costs at worst a repeated alert

    def seen(self, key: str) -> bool:
        return key in self._sent

    def add(self, key: str) -> None:
        self._sent[key] = None

    def save(self) -> str | None:
        """Write the ledger; the problem as text when that fails (never raises)."""
        if self.path is None:
            return None
        keys = list(self._sent)[-LEDGER_KEEP:]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(keys), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            return f"notify ledger {self.path} not saved: {exc.strerror or exc}"
        return None


def post_webhook(url: str, payload: Mapping[str, Any], timeout_s: float = TIMEOUT_S) -> None:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "orch-notify"},
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        response.read(65536)


def run_command(command: str, payload: Mapping[str, Any], timeout_s: float = TIMEOUT_S) -> None:
    result = subprocess.run(
        shlex.split(command),
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"exited with status {result.returncode}")


def deliver(
    notifications: Sequence[Notification],
    targets_for: Callable[[Notification], Targets],
    ledger: Ledger,
    *,
    timeout_s: float = TIMEOUT_S,
) -> list[str]:
    """Send each notification to its targets once; returns the failures as one-line
    texts (to show as warnings). Never raises: a dead target must not fail a run."""
    failures: list[str] = []
    for note in notifications:
        targets = targets_for(note)
        payload = note.payload()
        sends = [("webhook", _where(url), url) for url in targets.webhooks]
        sends += [("command", _program(c), c) for c in targets.commands]
        for kind, where, target in sends:
            key = f"{note.key}:{hashlib.sha256(target.encode()).hexdigest()[:12]}"
            if ledger.seen(key):
                continue
            try:
                if kind == "webhook":
                    post_webhook(target, payload, timeout_s)
                else:
                    run_command(target, payload, timeout_s)
            except (OSError, subprocess.SubprocessError, RuntimeError, ValueError) as exc:
                why = getattr(exc, "reason", None) or exc
                failures.append(f"{kind} {where} for {note.host}: {why}")
                continue
            ledger.add(key)
    problem = ledger.save()
    if problem:
        failures.append(problem)
    return failures


def notify_stored_run(
    earlier: Iterable[StoredRun],
    stored: StoredRun,
    hosts: Sequence[Host],
    *,
    extra: Targets = Targets(),
    ledger_path: Path | None = None,
    timeout_s: float = TIMEOUT_S,
) -> tuple[list[Notification], list[str]]:
    """Notify the compliance changes `stored` brings against the `earlier` runs (oldest
    first). Returns the changes and the delivery failures (as warnings)."""
    changes = verdict_changes(previous_verdicts(earlier), stored)
    by_name = {h.name: h for h in hosts}

    def targets_for(note: Notification) -> Targets:
        host = by_name.get(note.host)
        return (host_targets(host) if host is not None else Targets()) + extra

    if not changes:
        return [], []
    return changes, deliver(changes, targets_for, Ledger(ledger_path), timeout_s=timeout_s)


def notify_run(
    db_path: Path | StoreTarget,
    stored: StoredRun,
    hosts: Sequence[Host],
    *,
    extra: Targets = Targets(),
    ledger_path: Path | None = None,
    lookback_s: float = 8 * 86400.0,
) -> tuple[list[Notification], list[str]]:
    """`notify_stored_run` for a run just stored in the history at `db_path`: the runs
    before it (within `lookback_s`) give each device's previous verdict. Never raises
    for a delivery problem; a history that cannot be read is a failure text too."""
    from orchestrator.errors import OrchError
    from orchestrator.store import HistoryStore

    configured = bool(extra) or any(host_targets(h) for h in hosts)
    if not configured:
        return [], []
    try:
        with HistoryStore(db_path) as store:
            runs = store.runs(since=stored.started_at - lookback_s, until=stored.started_at)
    except OrchError as exc:
        return [], [f"previous verdicts not read: {exc}"]
    earlier = [r for r in runs if r.id != stored.id]
    return notify_stored_run(earlier, stored, hosts, extra=extra, ledger_path=ledger_path)
