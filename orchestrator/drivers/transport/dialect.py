"""How each CLI platform talks, as data (in the spirit of scrapli's platform definitions).

A CliSession drives any platform from one of these; adding a platform is adding a
Dialect, not a branch. Device texts and their sources: shared reference device-quirks.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# An unsolicited syslog line (`terminal monitor` / `logging monitor`), with or without a
# sequence number and timestamp: `*Mar  1 00:01:02.123: %SYS-5-CONFIG_I: Configured from
# console by admin on vty0 (10.31.0.24)` (napalm-logs PR#243), `%LINK-3-UPDOWN: ...`.
SYSLOG = (
    r"[ \t]*(?:\d+: )?"
    r"(?:[*.]?[A-Z][a-z]{2}[ \t]+\d+(?:[ \t]+\d{4})?[ \t]+\d+:\d+:\d+(?:\.\d+)?"
    r"(?:[ \t]+[A-Z]{2,5})?: )?"
    r"%[A-Z][A-Z0-9_]*(?:-[A-Z0-9_]+)*-[0-7]-[A-Z0-9_]+:[^\n]*"
)


@dataclass(frozen=True)
class Dialect:
    """One CLI platform. Patterns are regular expressions; `prompt` matches a whole line."""

    name: str
    # the prompt of any exec mode, as one whole line (the hostname part may be cut short)
    prompt: str
    # the learned exec prompt is privileged when this matches it
    privileged: str
    # command that raises the privilege, and the password question it asks
    enable: str | None
    enable_password: str
    # sent after login; a refusal (AAA) is tolerated: pages are then answered
    paging_off: tuple[str, ...]
    # a page break, at the end of the output
    more: str
    # a line of output that means the command or configuration line was refused
    failures: str
    # configuration mode: the command, its prompt (whole line) and the way out;
    # None: the platform configures with exec-level commands (CatOS `set`)
    config_enter: str | None = None
    config_prompt: str | None = None
    config_exit: str | None = None
    # persisting the configuration, the questions it may ask (pattern at the end of the
    # output -> answer) and how long it may take; None: saved as entered
    save: str | None = None
    save_answers: tuple[tuple[str, str], ...] = ()
    save_timeout_s: float = 120.0
    syslog: str = SYSLOG
    hint_unprivileged: str = "not in privileged mode (give the host an enable_secret)"


IOS = Dialect(
    name="cisco_ios",
    # `r1#`, `dc1-core-router-01>`, `THIS.IS.A.PARTICULARLY.LONG#`, custom prompts
    # (`prompt %h-STP-1234%p`: `Loc-S123987345-STP-1234#`, netmiko#2956)
    prompt=r"[\w.@/:~+-]+[>#][ \t]?",
    privileged=r"#\s*$",
    enable="enable",
    enable_password=r"[Pp]assword: ?$",
    paging_off=("terminal length 0",),
    more=r" ?--More-- ?$",
    failures=(
        r"^\s*(?:% ?(?:Invalid input|Incomplete command|Ambiguous command|Unknown command"
        r"|Authorization failed|Bad )|Command authorization failed|Command rejected"
        r"|Configuration mode (?:is )?locked|% ?Configuration (?:mode )?locked)[^\n]*"
    ),
    config_enter="configure terminal",
    # the hostname is cut at 20 characters here and may differ from a custom exec prompt
    # (`THIS.IS.A.PARTICULAR(config)#`, netmiko#2755, #2956)
    config_prompt=r"[^\s()]*\(config[^\s)]*\)#[ \t]?",
    config_exit="end",
    save="write memory",
    # netmiko#1561, PR#1037 (after an image change); `copy running-config startup-config`
    save_answers=(
        (r"\[confirm\]\s*$", "\n"),
        (r"Destination filename \[[^\]\n]*\]\?\s*$", "\n"),
    ),
)

CATOS = Dialect(
    name="cisco_catos",
    # `DAL-C5500> (enable) ` (ZipTie DataCatOS5500.pm), oxidized `^[\w.@-]+> \(enable\) $`
    prompt=r"[\w.@-]+> (?:\(enable\) ?)?",
    privileged=r"\(enable\)\s*$",
    enable="enable",
    enable_password=r"[Pp]assword: ?$",
    paging_off=("set length 0",),
    more=r" ?--More-- ?$",
    # `Unknown command "x".  Use 'help' for more info.`, a `Usage:` block (CatOS 8.x
    # command reference)
    failures=r"^(?:Unknown command|Usage: |Invalid |Bad |Command authorization failed)[^\n]*",
)

DIALECTS = {d.name: d for d in (IOS, CATOS)}


@dataclass(frozen=True)
class Compiled:
    """A dialect's patterns, compiled once."""

    dialect: Dialect
    any_prompt: re.Pattern[str]
    loose_prompt: re.Pattern[str]
    privileged: re.Pattern[str]
    enable_password: re.Pattern[str]
    more: re.Pattern[str]
    failures: re.Pattern[str]
    config_prompt: re.Pattern[str] | None
    save_answers: tuple[tuple[re.Pattern[str], str], ...]
    syslog_inner: re.Pattern[str]
    syslog_tail: re.Pattern[str]

    @classmethod
    def of(cls, d: Dialect) -> Compiled:
        return cls(
            dialect=d,
            # \Z, not $: a banner line ending in a newline is not a prompt
            any_prompt=re.compile(rf"(?:^|\n)(?P<prompt>{d.prompt})\Z"),
            loose_prompt=re.compile(rf"(?P<prompt>{d.prompt})\Z"),
            privileged=re.compile(d.privileged),
            enable_password=re.compile(d.enable_password),
            more=re.compile(d.more),
            failures=re.compile(d.failures, re.M),
            config_prompt=(
                re.compile(rf"(?:^|\n)(?P<prompt>{d.config_prompt})\Z") if d.config_prompt else None
            ),
            save_answers=tuple((re.compile(p), a) for p, a in d.save_answers),
            syslog_inner=re.compile(rf"(?:^|\n){d.syslog}(?=\n)"),
            syslog_tail=re.compile(rf"(?:(?:^|\n){d.syslog})+\n?$"),
        )


COMPILED = {name: Compiled.of(d) for name, d in DIALECTS.items()}
