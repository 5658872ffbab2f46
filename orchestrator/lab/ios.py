"""A simulated Cisco IOS 15 device: exec/enable/config modes over a real-looking CLI."""

from __future__ import annotations

import re
from collections import deque

from orchestrator.lab import formats
from orchestrator.lab.cli_tokens import (
    CliError,
    Node,
    Token,
    dispatch,
    int_arg,
    match_keyword,
    no_args,
    tokenize,
)
from orchestrator.lab.device import Reply, SimDevice
from orchestrator.lab.ios_config import (
    Interface,
    IosConfig,
    is_ip,
)
from orchestrator.lab.ios_configure import IosConfigMode
from orchestrator.lab.ntp_runtime import ServerTarget
from orchestrator.lab.spec import DeviceSpec, LabSpec

INVALID = "% Invalid input detected at '^' marker."
ENTER_CONFIG = "Enter configuration commands, one per line.  End with CNTL/Z."

# Device texts of the faults (shared reference device-quirks.md, sources there).
# Config mode held by another session (networkbits.es, ipnet.xyz write-ups).
LOCKED = (
    "Configuration mode locked exclusively by user 'netop' process '187' from "
    "terminal '7'. Please try later."
)
# TACACS+/RADIUS command authorization (ansible#59007, ansible PR#40819, Netshot#334).
AAA_REFUSED = "Command authorization failed."
BANNERS = {
    # oxidized#269: MOTD without a trailing newline, the prompt on the same line
    "no_newline": "**DO NOT ATTEMPT LOGIN UNLESS AUTHORIZED. ALL LOGIN ATTEMPTS ARE LOGGED!!**",
    # netmiko#3689 and ssh2shell#41: banners with prompt characters
    "prompt_chars": (
        ":::::::::::::::> some banner message <:::::::::::::::\n"
        "Cyril's very > Special >> message to # include ## >#>>## ###\n"
    ),
}
# netmiko#1561, PR#1037: `write memory` after an image change
NVRAM_CONFIRM = (
    "Warning: Attempting to overwrite an NVRAM configuration previously written\n"
    "by a different version of the system image.\n"
    "Overwrite the previous NVRAM configuration?[confirm]"
)
# Cisco document 46253: an unknown EXEC word taken for a host name
TRANSLATING = 'Translating "{word}"...domain server (255.255.255.255)'
UNKNOWN_HOST = "% Unknown command or computer name, or unable to find computer address"
DOMAIN_LOOKUP_S = 2.0
LINK_UPDOWN = "%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up"
CONFIG_I = "%SYS-5-CONFIG_I: Configured from console by {user} on vty0 (127.0.0.1)"

# `show version` of the two hardware models the lab plays, laid out as real captures:
# a Cisco 2901 ISR on IOS 15.x (a Cisco Press "Branch# show version" excerpt: "Cisco IOS
# Software, C2900 Software (C2900-UNIVERSALK9-M), Version 15.2(4)M1", "ROM: System
# Bootstrap, Version 15.0(1r)M15", "Last reload type: Normal Reload", "Cisco
# CISCO2901/K9 (revision 1.0) with 483328K/40960K bytes of memory.", "DRAM configuration
# is 64 bits wide with parity enabled.", "250880K bytes of ATA System CompactFlash 0
# (Read/Write)", "Configuration register is 0x2102"), and a Catalyst 2960 on 15.0(2)SE4
# (public lab notes: "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version
# 15.0(2)SE4, RELEASE SOFTWARE (fc1)" ... "Compiled Wed 26-Jun-13 02:49"). The crypto
# export notice and licence tables of the real output are left out, as many published
# captures do. The 2960 has no hardware calendar, hence it plays the no-calendar fault.
# napalm's get_facts reads "<host> uptime is", "Processor board ID", "Cisco IOS
# Software, " and "Cisco <model> ... bytes of memory" from it.
_VERSION_ROUTER = """\
Cisco IOS Software, C2900 Software (C2900-UNIVERSALK9-M), Version 15.4(3)M3, RELEASE SOFTWARE (fc2)
Technical Support: http://www.cisco.com/techsupport
Copyright (c) 1986-2015 by Cisco Systems, Inc.
Compiled Fri 05-Jun-15 13:24 by prod_rel_team

ROM: System Bootstrap, Version 15.0(1r)M16, RELEASE SOFTWARE (fc1)

{host} uptime is {uptime}
System returned to ROM by power-on
System image file is "flash0:c2900-universalk9-mz.SPA.154-3.M3.bin"
Last reload type: Normal Reload
Last reload reason: power-on

Cisco CISCO2901/K9 (revision 1.0) with 483328K/40960K bytes of memory.
Processor board ID {serial}
2 Gigabit Ethernet interfaces
1 terminal line
DRAM configuration is 64 bits wide with parity enabled.
255K bytes of non-volatile configuration memory.
250880K bytes of ATA System CompactFlash 0 (Read/Write)

Configuration register is 0x2102
"""

_VERSION_2960 = """\
Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE4, RELEASE SOFTWARE (fc1)
Technical Support: http://www.cisco.com/techsupport
Copyright (c) 1986-2013 by Cisco Systems, Inc.
Compiled Wed 26-Jun-13 02:49 by prod_rel_team

ROM: Bootstrap program is C2960 boot loader
BOOTLDR: C2960 Boot Loader (C2960-HBOOT-M) Version 12.2(44)SE, RELEASE SOFTWARE (fc1)

{host} uptime is {uptime}
System returned to ROM by power-on
System image file is "flash:/c2960-lanbasek9-mz.150-2.SE4.bin"

cisco WS-C2960-24TT-L (PowerPC405) processor (revision B0) with 65536K bytes of memory.
Processor board ID {serial}
Last reset from power-on
1 Virtual Ethernet interface
24 FastEthernet interfaces
2 Gigabit Ethernet interfaces
The password-recovery mechanism is enabled.

64K bytes of flash-simulated non-volatile configuration memory.
Model number                    : WS-C2960-24TT-L
System serial number            : {serial}

Configuration register is 0xF
"""


def _uptime_text(seconds: float) -> str:
    s = int(seconds)
    weeks, s = divmod(s, 7 * 86400)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes = s // 60
    parts = []
    for value, unit in ((weeks, "week"), (days, "day"), (hours, "hour"), (minutes, "minute")):
        if value:
            parts.append(f"{value} {unit}{'s' if value != 1 else ''}")
    return ", ".join(parts) or "0 minutes"


class IosDevice(SimDevice):
    platform = "cisco_ios"

    def __init__(self, spec: DeviceSpec, lab: LabSpec) -> None:
        super().__init__(spec, lab)
        self.config = IosConfig(
            hostname=spec.faults.hostname or spec.name,
            enable_secret=spec.enable_secret,
            mgmt_address=spec.address,
            interfaces=[
                Interface(
                    "GigabitEthernet0/0",
                    [
                        "description lab management",
                        f"ip address {spec.address} 255.0.0.0",
                        "duplex auto",
                        "speed auto",
                    ],
                ),
                Interface(
                    "GigabitEthernet0/1", ["no ip address", "shutdown", "duplex auto", "speed auto"]
                ),
            ],
        )
        self.config.last_change = formats.ios_clock_text(self.clock.now())
        self.serial = "FTX" + format(abs(hash(spec.name)) % 16**8, "08X")
        self.ntp.accept_from = self.config.may_sync_from
        boot = list(spec.startup_config)
        if spec.faults.access_group_block:
            # An ACL for the management range only: our loopback server is not in it.
            boot += ["access-list 99 permit 10.0.0.0 0.255.255.255", "ntp access-group peer 99"]
        self._boot_lines = boot
        self.startup: IosConfig | None = None
        # (mode, line) of the last lines typed in any session: tests check that no
        # configuration line ever reached EXEC mode
        self.history: deque[tuple[str, str]] = deque(maxlen=500)

    def start(self) -> None:
        if self._boot_lines:
            shell = IosShell(self, privileged=True)
            shell.mode = "config"
            for line in self._boot_lines:
                shell.handle(line)
        self.startup = self.config.copy()
        self.apply_ntp()

    def new_shell(self) -> IosShell:
        return IosShell(self)

    @property
    def model_text(self) -> str:
        return _VERSION_2960 if self.spec.faults.no_calendar else _VERSION_ROUTER

    def apply_ntp(self) -> None:
        """Push the running config's server lines into the NTP client."""
        self.ntp.accept_from = self.config.may_sync_from
        targets = [
            ServerTarget(
                address=s.address,
                prefer=s.prefer,
                iburst=s.iburst,
                minpoll=s.minpoll or 6,
                maxpoll=s.maxpoll or 10,
                key=self.config.symmetric_key(s.key),
                require_auth=self.config.ntp_authenticate,
            )
            for s in self.config.ntp_servers
            if is_ip(s.address)
        ]
        self.ntp.configure(targets)

    def touch(self) -> None:
        self.config.last_change = formats.ios_clock_text(self.clock.now())

    def syslog(self, message: str) -> str:
        """`message` as a monitored syslog line ('' unless the device plays syslog)."""
        kind = self.spec.faults.syslog
        if not kind:
            return ""
        synced = self.ntp.status().synchronized
        return formats.ios_syslog(
            message, self.clock.now(), timestamps=kind == "timestamps", synced=synced
        )


class IosShell(IosConfigMode):
    """One IOS CLI session."""

    def __init__(self, device: IosDevice, *, privileged: bool = False) -> None:
        self.device = device
        self.faults = device.spec.faults
        privileged = privileged or self.faults.privilege15
        self.mode = "enable" if privileged else "user"  # user, enable, config, config-if
        self.interface = None
        self.awaiting_enable_password = False
        self.awaiting: str | None = None  # a question being asked: "confirm", "destination"
        self.term_length = 24
        self.term_width = 80

    # ------------------------------------------------------------------ Shell protocol

    def banner(self) -> str:
        text = BANNERS.get(self.faults.banner, "")
        link = self.device.syslog(LINK_UPDOWN)
        if text and not text.endswith("\n"):
            return f"\n{link}\n{text}" if link else f"\n{text}"
        return ("\n" + text if text else "") + (f"{link}\n" if link else "")

    def prompt(self) -> str:
        if self.awaiting_enable_password:
            return "Password: "
        if self.awaiting is not None:
            return ""  # the question is its own prompt
        host = self.device.config.hostname
        if self.mode in ("user", "enable"):
            end = ">" if self.mode == "user" else "#"
            if self.faults.prompt:  # `prompt %h-STP-1234%p`: exec mode only
                return self.faults.prompt.replace("%h", host).replace("%p", end)
            return f"{host}{end}"
        if self.mode == "config-if":
            return f"{host[:20]}(config-if)#"
        return f"{host[:20]}(config)#"

    @property
    def page_length(self) -> int:
        """Lines per screen (`terminal length` / `set length`); 0 = no paging."""
        return self.term_length

    def echo(self) -> bool:
        return not self.awaiting_enable_password

    def handle(self, line: str) -> Reply:
        if self.awaiting_enable_password:
            self.awaiting_enable_password = False
            if line == self.device.config.enable_secret:
                self.mode = "enable"
                return Reply("")
            return Reply("% Bad secrets\n")
        if self.awaiting is not None:
            return self._answered(line)
        self.device.history.append((self.mode, line))
        prompt = self.prompt()
        text = line.rstrip()
        if not text.strip() or text.lstrip().startswith("!"):
            return Reply("")
        words = " ".join(text.split()).lower()
        if any(words.startswith(p.lower()) for p in self.faults.aaa_refuse):
            return Reply(AAA_REFUSED + "\n")
        command, _, pipe = text.partition(" | ")
        was_config = self.mode in ("config", "config-if")
        try:
            if was_config:
                output = self._config(command, text)
            else:
                special = self._exec_special(command)
                if special is not None:
                    return special
                output = self._exec(command)
            if pipe:
                output = self._pipe(output, pipe, len(prompt) + len(command) + 3)
        except CliError as err:
            if not was_config and err.position == 0 and self.faults.domain_lookup:
                return self._lookup(text)
            return Reply(self._error(err, prompt, text))
        except _Close:
            return Reply("", close=True)
        reply = Reply(output + ("\n" if output and not output.endswith("\n") else ""))
        if was_config and self.mode == "enable":  # left configuration mode
            user = self.device.spec.username
            reply.after_prompt = self.device.syslog(CONFIG_I.format(user=user))
            if reply.after_prompt:
                reply.after_prompt = f"\n{reply.after_prompt}\n"
        return reply

    # ------------------------------------------------------------------ quirks

    def _exec_special(self, command: str) -> Reply | None:
        """EXEC commands whose answer takes time or asks a question."""
        words = [w.lower() for w in command.split()]
        if self.mode != "enable" or not words:
            return None
        if (
            "write".startswith(words[0])
            and len(words[0]) >= 2
            and (len(words) == 1 or (len(words) == 2 and "memory".startswith(words[1])))
        ):
            if self.faults.save_confirm:
                self.awaiting = "confirm"
                return Reply(NVRAM_CONFIRM)
            return self._save()
        if (
            len(words) == 3
            and "copy".startswith(words[0])
            and "running-config".startswith(words[1])
            and "startup-config".startswith(words[2])
        ):
            self.awaiting = "destination"
            return Reply("Destination filename [startup-config]? ")
        return None

    def _answered(self, line: str) -> Reply:
        asked, self.awaiting = self.awaiting, None
        answer = line.strip().lower()
        if asked == "confirm" and answer not in ("", "y", "yes"):
            return Reply("")
        if asked == "destination" and answer not in ("", "startup-config"):
            return Reply("% Destination filename must be startup-config\n")
        return self._save()

    def _save(self) -> Reply:
        """`Building configuration...`, a pause on slow platforms, `[OK]`; a syslog line
        may come in between."""
        self.device.startup = self.device.config.copy()
        link = self.device.syslog(LINK_UPDOWN)
        later = (f"{link}\n" if link else "") + "[OK]\n"
        delay = self.faults.save_delay_s
        if delay or link:
            return Reply("Building configuration...\n", delay_s=max(delay, 0.05), later=later)
        return Reply("Building configuration...\n" + later)

    def _lookup(self, text: str) -> Reply:
        word = text.split()[0]
        return Reply(
            TRANSLATING.format(word=word) + "\n",
            delay_s=DOMAIN_LOOKUP_S,
            later=UNKNOWN_HOST + "\n",
        )

    # ------------------------------------------------------------------ errors

    @staticmethod
    def _error(err: CliError, prompt: str, line: str) -> str:
        if err.kind == "incomplete":
            return "% Incomplete command.\n\n"
        if err.kind == "ambiguous":
            return f'% Ambiguous command:  "{line.strip()}"\n'
        if err.kind == "authorization":
            return "% Authorization failed.\n\n"
        if err.kind == "aaa":
            return AAA_REFUSED + "\n"
        return " " * (len(prompt) + err.position) + "^\n" + INVALID + "\n\n"

    # ------------------------------------------------------------------ exec mode

    def _exec(self, command: str) -> str:
        tokens = tokenize(command)
        tree: dict[str, Node] = {
            "enable": self._enable,
            "disable": self._disable,
            "exit": self._logout,
            "logout": self._logout,
            "quit": self._logout,
            "terminal": {
                "length": self._term_length,
                "width": self._term_width,
                "monitor": lambda _a: "",
                "no": {"monitor": lambda _a: ""},
            },
            "show": self._show_tree(),
            "ping": self._ping,
        }
        if self.mode == "enable":
            tree.update(
                {
                    "configure": self._configure,
                    "write": self._write,
                    "copy": self._copy,
                }
            )
        return dispatch(tree, tokens, len(command))

    def _show_tree(self) -> dict[str, Node]:
        show: dict[str, Node] = {
            "version": self._show_version,
            "clock": self._show_clock,
            "ntp": {
                "associations": self._show_ntp_associations,
                "status": self._show_ntp_status,
            },
            "hosts": self._show_hosts,
            "ip": {"interface": {"brief": self._show_ip_int_brief}},
            "privilege": self._show_privilege,
            "terminal": self._show_terminal,
        }
        if self.mode == "enable":
            show["running-config"] = self._show_running
            show["startup-config"] = self._show_startup
        return show

    def _enable(self, args: list[Token]) -> str:
        no_args(args)
        if self.mode == "user":
            self.awaiting_enable_password = True
        return ""

    def _disable(self, args: list[Token]) -> str:
        no_args(args)
        self.mode = "user"
        return ""

    def _logout(self, args: list[Token]) -> str:
        raise _Close()

    def _term_length(self, args: list[Token]) -> str:
        self.term_length = int_arg(args, 0, 512)
        return ""

    def _term_width(self, args: list[Token]) -> str:
        self.term_width = int_arg(args, 0, 512)
        return ""

    def _configure(self, args: list[Token]) -> str:
        if args:
            if match_keyword(args[0], ("terminal", "memory", "network", "replace", "confirm")) != (
                "terminal"
            ):
                raise CliError("invalid", args[0].start)
            no_args(args[1:])
        if self.faults.config_locked:
            return LOCKED  # the device stays in EXEC mode
        self.mode = "config"
        return ENTER_CONFIG

    def _write(self, args: list[Token]) -> str:
        if args:
            if match_keyword(args[0], ("memory", "terminal", "erase")) != "memory":
                raise CliError("invalid", args[0].start)
            no_args(args[1:])
        self.device.startup = self.device.config.copy()
        return "Building configuration...\n[OK]"

    def _copy(self, args: list[Token]) -> str:
        names = [a.text.lower() for a in args]
        if (
            len(names) == 2
            and "running-config".startswith(names[0])
            and ("startup-config".startswith(names[1]))
        ):
            self.device.startup = self.device.config.copy()
            return "Destination filename [startup-config]? \nBuilding configuration...\n[OK]"
        raise CliError("invalid", args[0].start if args else 0)

    def _ping(self, args: list[Token]) -> str:
        if not args:
            raise CliError("incomplete")
        return (
            "Type escape sequence to abort.\n"
            f"Sending 5, 100-byte ICMP Echos to {args[0].text}, timeout is 2 seconds:\n"
            "!!!!!\nSuccess rate is 100 percent (5/5), round-trip min/avg/max = 1/1/1 ms"
        )

    # ------------------------------------------------------------------ show

    def _show_version(self, args: list[Token]) -> str:
        no_args(args)
        dev = self.device
        return dev.model_text.format(
            host=dev.config.hostname,
            uptime=_uptime_text(dev.clock.uptime_s()),
            serial=dev.serial,
        )

    def _show_clock(self, args: list[Token]) -> str:
        detail = False
        if args:
            match_keyword(args[0], ("detail",))
            detail = True
        dev = self.device
        synced = dev.ntp.status().synchronized
        # `*` not authoritative, `.` authoritative but NTP unsynchronised (Cisco
        # "show clock" command reference).
        mark = "" if synced else ("." if dev.config.ntp_enabled else "*")
        text = mark + formats.ios_clock_text(dev.clock.now())
        if detail:
            text += "\nTime source is NTP" if synced else "\nNo time source"
        return text

    def _show_ntp_associations(self, args: list[Token]) -> str:
        no_args(args)
        dev = self.device
        if not dev.config.ntp_enabled:
            return "%NTP is not enabled."
        return formats.ios_associations(dev.ntp.peers, dev.clock.now())

    def _show_ntp_status(self, args: list[Token]) -> str:
        no_args(args)
        dev = self.device
        if not dev.config.ntp_enabled:
            return "%NTP is not enabled."
        return formats.ios_status(
            dev.ntp.status(), now_s=dev.clock.now(), uptime_s=dev.clock.uptime_s()
        )

    def _show_hosts(self, args: list[Token]) -> str:
        no_args(args)
        return (
            "Default domain is lab.local\n"
            "Name/address lookup uses static mappings\n\n"
            "Codes: UN - unknown, EX - expired, OK - OK, ?? - revalidate\n"
            "       temp - temporary, perm - permanent\n"
            "       NA - Not Applicable None - Not defined\n\n"
            "Host                      Port  Flags      Age Type   Address(es)"
        )

    def _show_ip_int_brief(self, args: list[Token]) -> str:
        no_args(args)
        lines = [
            "Interface                  IP-Address      OK? Method Status                Protocol"
        ]
        for intf in self.device.config.interfaces:
            address = "unassigned"
            for line in intf.lines:
                if line.startswith("ip address "):
                    address = line.split()[2]
            down = "shutdown" in intf.lines
            status = "administratively down" if down else "up"
            lines.append(
                f"{intf.name:<26} {address:<15} YES NVRAM  {status:<21} {'down' if down else 'up'}"
            )
        return "\n".join(lines)

    def _show_privilege(self, args: list[Token]) -> str:
        no_args(args)
        return f"Current privilege level is {15 if self.mode != 'user' else 1}"

    def _show_terminal(self, args: list[Token]) -> str:
        no_args(args)
        return f"Length: {self.term_length} lines, Width: {self.term_width} columns"

    def _show_running(self, args: list[Token]) -> str:
        no_args(args)
        body = "\n".join(self.device.config.render())
        return f"Building configuration...\n\nCurrent configuration : {len(body) + 1} bytes\n{body}"

    def _show_startup(self, args: list[Token]) -> str:
        no_args(args)
        startup = self.device.startup or self.device.config
        body = "\n".join(startup.render())
        return f"Using {len(body) + 1} out of 262136 bytes\n{body}"

    # ------------------------------------------------------------------ pipes

    def _pipe(self, output: str, pipe: str, offset: int) -> str:
        tokens = tokenize(pipe)
        if not tokens:
            raise CliError("incomplete")
        kind = match_keyword(
            Token(tokens[0].text, offset + tokens[0].start),
            ("include", "exclude", "begin", "section", "count"),
        )
        if len(tokens) < 2:
            raise CliError("incomplete")
        pattern = pipe[tokens[1].start :].strip()
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise CliError("invalid", offset + tokens[1].start) from exc
        lines = output.splitlines()
        # IOS filters apply to the configuration text, not the "Building configuration"
        # preamble, which it never prints through a pipe.
        if lines and lines[0].startswith("Building configuration"):
            lines = lines[1:]
        if kind == "include":
            kept = [ln for ln in lines if regex.search(ln)]
        elif kind == "exclude":
            kept = [ln for ln in lines if not regex.search(ln)]
        elif kind == "begin":
            kept = []
            for i, ln in enumerate(lines):
                if regex.search(ln):
                    kept = lines[i:]
                    break
        elif kind == "count":
            return (
                f"Number of lines which match regexp = {sum(1 for ln in lines if regex.search(ln))}"
            )
        else:
            kept = []
            take = False
            for ln in lines:
                if not ln.startswith(" "):
                    take = bool(regex.search(ln))
                    if take:
                        kept.append(ln)
                elif take:
                    kept.append(ln)
        return "\n".join(kept)


class _Close(Exception):
    """The session ends (exit/logout)."""
