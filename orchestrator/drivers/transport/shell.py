"""An interactive channel read the way a person reads a vty.

* The text is normalised: `\\r` dropped, backspace erasures (` --More-- ` being wiped,
  `$`-scrolled echoes) removed, invalid UTF-8 replaced.
* Unsolicited syslog lines are removed wherever they arrive, also right after a prompt.
* A page break (` --More-- `) is answered with a space, once per break.
* Reading stops when a predicate accepts the cleaned text; what follows the match is
  kept for the next read. A closed channel and a timeout are told apart.
"""

from __future__ import annotations

import codecs
import re
import select
import time
from collections.abc import Callable

import paramiko

from orchestrator.drivers.transport.dialect import Compiled
from orchestrator.drivers.transport.errors import ChannelClosed, PromptTimeout

_ERASE = re.compile(r"\x08+[ \t]*\x08*")

Stop = Callable[[str], "re.Match[str] | None"]


class Shell:
    def __init__(self, chan: paramiko.Channel, dialect: Compiled) -> None:
        self.chan = chan
        self.dialect = dialect
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def alive(self) -> bool:
        transport = self.chan.get_transport()
        return bool(transport is not None and transport.is_active() and not self.chan.closed)

    def write(self, text: str) -> None:
        self.chan.sendall(text.encode())

    def clean(self, raw: str) -> str:
        text = _ERASE.sub("", raw.replace("\r", ""))
        text = self.dialect.syslog_tail.sub("", text)
        return self.dialect.syslog_inner.sub("", text)

    def read_until(self, stop: Stop, timeout_s: float) -> tuple[str, re.Match[str]]:
        """Read until `stop(cleaned text)` matches; the cleaned text up to the match end."""
        deadline = time.monotonic() + timeout_s
        raw = self._pending
        self._pending = ""
        while True:
            text = self.clean(raw)
            found = stop(text)
            if found:
                self._pending = text[found.end() :]
                return text[: found.end()], found
            if self.dialect.more.search(raw):
                self.write(" ")  # the marker is wiped by the device; drop it here
                raw = self.dialect.more.sub("", raw)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                last = (text.rstrip().splitlines() or [""])[-1][-60:]
                raise PromptTimeout(f"no prompt after {timeout_s:g} s (last output {last!r})")
            if self.chan.recv_ready():
                raw += self._decoder.decode(self.chan.recv(65536))
                continue
            if self.chan.closed or self.chan.eof_received:
                raise ChannelClosed("channel closed by the device")
            select.select([self.chan], [], [], min(remaining, 0.5))
