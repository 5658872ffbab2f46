"""CLI sessions (Cisco IOS, CatOS): one interactive shell driven by the platform's Dialect.

Login: the prompt is taken as the device prints it, whole line, whatever the hostname's
length or a custom `prompt`; a banner without a final newline or with prompt characters
is told apart by asking for a fresh prompt. A privilege-15 login needs no `enable`. A
refused `terminal length 0` (AAA) is tolerated: page breaks are then answered.

Configuration (dialects with a configuration mode): `configure terminal` must be answered
by a configuration prompt before any line is sent; otherwise nothing is sent and the
device's words are the reason. Lines go one at a time, each after the previous prompt
(device input buffers are finite: netmiko#1058), and the first refused line stops the
change: configuration mode is left and the line is raised, so nothing is saved.

Saving answers `[confirm]` and `Destination filename [...]?`, waits for slow saves, and
ignores syslog lines wherever they come.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence

from orchestrator.drivers.base import CommandResult
from orchestrator.drivers.transport.client import Client, close, connect
from orchestrator.drivers.transport.dialect import COMPILED, Compiled
from orchestrator.drivers.transport.errors import device_errors, scrub, where
from orchestrator.drivers.transport.hostkeys import HostKeyPolicy
from orchestrator.drivers.transport.shell import Shell
from orchestrator.errors import CommandRejected, ConnectionFailure
from orchestrator.models import Host

_LAST_LINE = re.compile(r"(?:^|\n)(?P<prompt>[^\n]*)$")


def _answer(text: str, command: str) -> str:
    """The output of `command` in `text` (its echo up to the final prompt line), without
    the echo line and the prompt. Echoes may be scrolled (`$`), so the echo line is found
    by the command's start or end, else taken to be the first line."""
    lines = text.split("\n")[:-1]  # the last line is the prompt
    marks = {command.strip()[:15], command.strip()[-15:]} - {""}
    for i, line in enumerate(lines):
        if any(m in line for m in marks):
            return "\n".join(lines[i + 1 :])
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines[1:])


class CliSession:
    """An interactive CLI channel to one device, spoken in its dialect."""

    def __init__(self, host: Host, client: Client, dialect: Compiled, timeout_s: float) -> None:
        self.host = host
        self._client = client
        self.d = dialect
        self._timeout_s = timeout_s
        self.prompt = ""
        self.paging_refused = False
        self.enable_refused = ""  # the device's answer when `enable` did not raise privilege
        self.saved = False
        chan = client.invoke_shell(term="vt100", width=511, height=1000)
        self.shell = Shell(chan, dialect)

    # ------------------------------------------------------------------ prompts

    def _exec_prompt(self) -> re.Pattern[str]:
        return re.compile(r"(?:^|\n)" + re.escape(self.prompt.rstrip()) + r"[ \t]*\Z")

    @property
    def privileged(self) -> bool:
        return bool(self.d.privileged.search(self.prompt))

    @property
    def _unprivileged_hint(self) -> str:
        if self.enable_refused:
            return f"not in privileged mode: `enable` answered {self.enable_refused!r}"
        return self.d.dialect.hint_unprivileged

    def _learn_prompt(self, timeout_s: float) -> None:
        """Read to the first prompt. One alone on its line is the prompt; one that ends a
        longer line (a banner without a newline: `...LOGGED!!**algona.rtr#`) is not
        trusted: a fresh line is asked for and the prompt read from it."""
        text, _ = self.shell.read_until(self.d.loose_prompt.search, timeout_s)
        whole = self.d.any_prompt.search(text)
        if whole is None:
            self.shell.write("\n")
            text, whole = self.shell.read_until(
                lambda t: re.search(r"\n(?P<prompt>" + self.d.dialect.prompt + r")\Z", t),
                timeout_s,
            )
        self.prompt = whole.group("prompt")

    def login(self) -> None:
        d = self.d.dialect
        self._learn_prompt(self._timeout_s)
        secret = self.host.enable_secret.reveal() if self.host.enable_secret else ""
        if d.enable and secret and not self.privileged:
            self.shell.write(d.enable + "\n")
            text, _ = self.shell.read_until(
                lambda t: self.d.enable_password.search(t) or self.d.any_prompt.search(t),
                self._timeout_s,
            )
            if self.d.enable_password.search(text):
                self.shell.write(secret + "\n")
                text, _ = self.shell.read_until(self.d.any_prompt.search, self._timeout_s)
            found = _LAST_LINE.search(text)
            self.prompt = found.group("prompt") if found else self.prompt
            if not self.privileged:
                lines = [ln.strip() for ln in text.split("\n")[:-1] if ln.strip()]
                self.enable_refused = lines[-1] if lines else "no privileged prompt"
        for command in d.paging_off:
            output = self._exchange(command, self._timeout_s)
            if self.d.failures.search(output):
                self.paging_refused = True  # AAA: pages will be answered

    # ------------------------------------------------------------------ commands

    def _exchange(self, command: str, timeout_s: float) -> str:
        """Send one line; its answer up to the exec prompt (without echo and prompt)."""
        self.shell.write(command + "\n")
        text, _ = self.shell.read_until(self._exec_prompt().search, timeout_s)
        return _answer(text, command)

    def _refusal(self, output: str) -> str | None:
        found = self.d.failures.search(output)
        return found.group(0).strip() if found else None

    def run(
        self, command: str, *, stdin: str | None = None, timeout_s: float = 30.0
    ) -> CommandResult:
        with device_errors(self.host, f"running {command!r}", alive=self.shell.alive):
            output = self._exchange(command, timeout_s)
        refused = self._refusal(output)
        if refused:
            hint = "" if self.privileged else f"; {self._unprivileged_hint}"
            raise CommandRejected(
                scrub(
                    f"{where(self.host)}: device rejected {command!r} ({refused}){hint}", self.host
                ),
                command=command,
                output=output,
            )
        return CommandResult(command, output)

    def configure(self, lines: Sequence[str]) -> str:
        """Send configuration lines; raise CommandRejected for the first refused one
        (CommandRejected.command), after which nothing more was sent."""
        d = self.d.dialect
        if d.config_enter is None:
            return "".join(self.run(line, timeout_s=self._timeout_s).output for line in lines)
        if not self.privileged:
            raise CommandRejected(
                f"{where(self.host)}: cannot configure: {self._unprivileged_hint}",
                command=d.config_enter,
            )
        with device_errors(self.host, "configure", alive=self.shell.alive):
            return self._configure(lines)

    def _configure(self, lines: Sequence[str]) -> str:
        d = self.d.dialect
        assert d.config_enter is not None and self.d.config_prompt is not None
        config_prompt = self.d.config_prompt
        exec_prompt = self._exec_prompt()

        def either(text: str) -> re.Match[str] | None:
            return config_prompt.search(text) or exec_prompt.search(text)

        self.shell.write(d.config_enter + "\n")
        text, found = self.shell.read_until(either, self._timeout_s)
        if found.re is not config_prompt:
            words = " ".join(_answer(text, d.config_enter).split()) or "no configuration prompt"
            raise CommandRejected(
                f"{where(self.host)}: device refused {d.config_enter!r}: {words}; nothing was sent",
                command=d.config_enter,
                output=text,
            )
        outputs = []
        for line in lines:
            self.shell.write(line + "\n")
            text, found = self.shell.read_until(either, self._timeout_s)
            answer = _answer(text, line)
            outputs.append(answer)
            refused = self._refusal(answer)
            left = found.re is not config_prompt
            if refused or left:
                if not left:
                    self._leave_config(exec_prompt)
                why = refused or "the device left configuration mode"
                raise CommandRejected(
                    scrub(f"{where(self.host)}: device rejected {line!r} ({why})", self.host),
                    command=line,
                    output=answer,
                )
        self._leave_config(exec_prompt)
        return "\n".join(outputs)

    def _leave_config(self, exec_prompt: re.Pattern[str]) -> None:
        assert self.d.dialect.config_exit is not None
        self.shell.write(self.d.dialect.config_exit + "\n")
        self.shell.read_until(exec_prompt.search, self._timeout_s)

    def save(self) -> str:
        d = self.d.dialect
        if d.save is None:
            return ""  # CatOS writes `set` commands to NVRAM as they are entered
        exec_prompt = self._exec_prompt()
        answers = self.d.save_answers

        def step(text: str) -> re.Match[str] | None:
            return exec_prompt.search(text) or next(
                (m for p, _ in answers if (m := p.search(text))), None
            )

        output = []
        with device_errors(self.host, d.save, alive=self.shell.alive):
            self.shell.write(d.save + "\n")
            for _ in range(5):  # each question once, then the prompt
                text, found = self.shell.read_until(step, max(self._timeout_s, d.save_timeout_s))
                output.append(text)
                if found.re is exec_prompt:
                    break
                self.shell.write(next(a for p, a in answers if p is found.re))
        answer = _answer("\n".join(output), d.save)
        refused = self._refusal(answer) or next(
            (ln.strip() for ln in answer.splitlines() if ln.startswith("%")), None
        )
        if refused:
            raise CommandRejected(
                f"{where(self.host)}: {d.save} failed: {refused}",
                command=d.save,
                output=answer,
            )
        self.saved = True
        return answer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.shell.write("exit\n")
        close(self._client)

    def __enter__(self) -> CliSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_cli(host: Host, timeout_s: float, policy: HostKeyPolicy) -> CliSession:
    client = connect(host, policy, timeout_s)
    try:
        with device_errors(host, "connect", policy):
            session = CliSession(host, client, COMPILED[host.platform], timeout_s)
            session.login()
    except BaseException:
        close(client)
        raise
    return session


__all__ = ["CliSession", "ConnectionFailure", "open_cli"]
