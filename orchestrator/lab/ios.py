"""A simulated Cisco IOS 15 device: exec/enable/config modes over a real-looking CLI."""

from __future__ import annotations

import ipaddress
import re

from orchestrator.lab import formats
from orchestrator.lab.cli_tokens import CliError, Node, Token, dispatch, match_keyword, tokenize
from orchestrator.lab.device import Reply, SimDevice
from orchestrator.lab.ios_config import (
    AclEntry,
    Interface,
    IosConfig,
    IosNtpServer,
    is_ip,
    type7_encode,
)
from orchestrator.lab.ntp_runtime import ServerTarget
from orchestrator.lab.spec import DeviceSpec, LabSpec

INVALID = "% Invalid input detected at '^' marker."
ENTER_CONFIG = "Enter configuration commands, one per line.  End with CNTL/Z."

# `show version` of the two hardware models the lab plays. Layout from Cisco's own
# documentation captures of IOS 15 on a Cisco 2901 ISR and a Catalyst 2960 (no
# hardware calendar, hence used for the no-calendar fault); napalm's get_facts reads
# "<host> uptime is", "Processor board ID", "Cisco IOS Software, " and
# "Cisco <model> ... bytes of memory" from it.
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
            hostname=spec.name,
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


class IosShell:
    """One IOS CLI session."""

    def __init__(self, device: IosDevice, *, privileged: bool = False) -> None:
        self.device = device
        self.mode = "enable" if privileged else "user"  # user, enable, config, config-if
        self.interface: Interface | None = None
        self.awaiting_enable_password = False
        self.term_length = 24
        self.term_width = 80

    # ------------------------------------------------------------------ Shell protocol

    def banner(self) -> str:
        return ""

    def prompt(self) -> str:
        if self.awaiting_enable_password:
            return "Password: "
        host = self.device.config.hostname
        if self.mode == "user":
            return f"{host}>"
        if self.mode == "enable":
            return f"{host}#"
        if self.mode == "config-if":
            return f"{host[:20]}(config-if)#"
        return f"{host[:20]}(config)#"

    def echo(self) -> bool:
        return not self.awaiting_enable_password

    def handle(self, line: str) -> Reply:
        if self.awaiting_enable_password:
            self.awaiting_enable_password = False
            if line == self.device.config.enable_secret:
                self.mode = "enable"
                return Reply("")
            return Reply("% Bad secrets\n")
        prompt = self.prompt()
        text = line.rstrip()
        if not text.strip() or text.lstrip().startswith("!"):
            return Reply("")
        command, _, pipe = text.partition(" | ")
        try:
            if self.mode in ("config", "config-if"):
                output = self._config(command, text)
            else:
                output = self._exec(command)
            if pipe:
                output = self._pipe(output, pipe, len(prompt) + len(command) + 3)
        except CliError as err:
            return Reply(self._error(err, prompt, text))
        except _Close:
            return Reply("", close=True)
        return Reply(output + ("\n" if output and not output.endswith("\n") else ""))

    # ------------------------------------------------------------------ errors

    @staticmethod
    def _error(err: CliError, prompt: str, line: str) -> str:
        if err.kind == "incomplete":
            return "% Incomplete command.\n\n"
        if err.kind == "ambiguous":
            return f'% Ambiguous command:  "{line.strip()}"\n'
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
        _no_args(args)
        if self.mode == "user":
            self.awaiting_enable_password = True
        return ""

    def _disable(self, args: list[Token]) -> str:
        _no_args(args)
        self.mode = "user"
        return ""

    def _logout(self, args: list[Token]) -> str:
        raise _Close()

    def _term_length(self, args: list[Token]) -> str:
        self.term_length = _int_arg(args, 0, 512)
        return ""

    def _term_width(self, args: list[Token]) -> str:
        self.term_width = _int_arg(args, 0, 512)
        return ""

    def _configure(self, args: list[Token]) -> str:
        if args:
            if match_keyword(args[0], ("terminal", "memory", "network", "replace", "confirm")) != (
                "terminal"
            ):
                raise CliError("invalid", args[0].start)
            _no_args(args[1:])
        self.mode = "config"
        return ENTER_CONFIG

    def _write(self, args: list[Token]) -> str:
        if args:
            if match_keyword(args[0], ("memory", "terminal", "erase")) != "memory":
                raise CliError("invalid", args[0].start)
            _no_args(args[1:])
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
        _no_args(args)
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
        _no_args(args)
        dev = self.device
        if not dev.config.ntp_enabled:
            return "%NTP is not enabled."
        return formats.ios_associations(dev.ntp.peers, dev.clock.now())

    def _show_ntp_status(self, args: list[Token]) -> str:
        _no_args(args)
        dev = self.device
        if not dev.config.ntp_enabled:
            return "%NTP is not enabled."
        return formats.ios_status(
            dev.ntp.status(), now_s=dev.clock.now(), uptime_s=dev.clock.uptime_s()
        )

    def _show_hosts(self, args: list[Token]) -> str:
        _no_args(args)
        return (
            "Default domain is lab.local\n"
            "Name/address lookup uses static mappings\n\n"
            "Codes: UN - unknown, EX - expired, OK - OK, ?? - revalidate\n"
            "       temp - temporary, perm - permanent\n"
            "       NA - Not Applicable None - Not defined\n\n"
            "Host                      Port  Flags      Age Type   Address(es)"
        )

    def _show_ip_int_brief(self, args: list[Token]) -> str:
        _no_args(args)
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
        _no_args(args)
        return f"Current privilege level is {15 if self.mode != 'user' else 1}"

    def _show_terminal(self, args: list[Token]) -> str:
        _no_args(args)
        return f"Length: {self.term_length} lines, Width: {self.term_width} columns"

    def _show_running(self, args: list[Token]) -> str:
        _no_args(args)
        body = "\n".join(self.device.config.render())
        return f"Building configuration...\n\nCurrent configuration : {len(body) + 1} bytes\n{body}"

    def _show_startup(self, args: list[Token]) -> str:
        _no_args(args)
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

    # ------------------------------------------------------------------ config mode

    def _config(self, command: str, raw: str) -> str:
        tokens = tokenize(command)
        if not tokens:
            return ""
        first = tokens[0].text.lower()
        for prefix in self.device.spec.faults.reject_commands:
            if " ".join(t.text for t in tokens).lower().startswith(prefix.lower()):
                raise CliError("invalid", tokens[0].start)
        if first == "do" and len(tokens) > 1:
            saved = self.mode
            self.mode = "enable"
            try:
                return self._exec(command[tokens[1].start :])
            finally:
                if self.mode == "enable":
                    self.mode = saved
        if self.mode == "config-if" and self.interface is not None:
            handled = self._interface_line(tokens, command)
            if handled is not None:
                return handled
        tree: dict[str, Node] = {
            "end": self._end,
            "exit": self._exit_config,
            "hostname": self._hostname,
            "enable": {"secret": self._enable_secret},
            "ntp": self._ntp_tree(negate=False),
            "no": {
                "ntp": self._no_ntp,
                "access-list": self._no_access_list,
                "file": {"prompt": lambda _a: ""},
            },
            "access-list": self._access_list,
            "interface": self._interface,
            "file": {"prompt": lambda _a: ""},
        }
        result = dispatch(tree, tokens, len(command))
        return result

    def _end(self, args: list[Token]) -> str:
        _no_args(args)
        self.mode = "enable"
        self.interface = None
        return ""

    def _exit_config(self, args: list[Token]) -> str:
        _no_args(args)
        if self.mode == "config-if":
            self.mode = "config"
            self.interface = None
        else:
            self.mode = "enable"
        return ""

    def _hostname(self, args: list[Token]) -> str:
        if len(args) != 1:
            raise CliError("invalid" if args else "incomplete", args[1].start if args else 0)
        self.device.config.hostname = args[0].text
        self.device.touch()
        return ""

    def _enable_secret(self, args: list[Token]) -> str:
        if not args:
            raise CliError("incomplete")
        if args[0].text == "0" and len(args) == 2:
            secret = args[1].text
        elif len(args) == 1:
            secret = args[0].text
        else:
            raise CliError("invalid", args[0].start)
        self.device.config.enable_secret = secret
        self.device.touch()
        return ""

    def _interface(self, args: list[Token]) -> str:
        if not args:
            raise CliError("incomplete")
        name = "".join(a.text for a in args)
        for intf in self.device.config.interfaces:
            if intf.name.lower() == name.lower():
                self.interface = intf
                break
        else:
            if not re.match(r"^(Loopback|GigabitEthernet|Vlan)\d+(/\d+)*$", name, re.I):
                raise CliError("invalid", args[0].start)
            self.interface = Interface(name, [])
            self.device.config.interfaces.append(self.interface)
        self.mode = "config-if"
        return ""

    def _interface_line(self, tokens: list[Token], command: str) -> str | None:
        assert self.interface is not None
        words = [t.text for t in tokens]
        head = words[0].lower()
        if head in ("description", "shutdown") or (head == "ip" and len(words) > 1):
            if head == "description":
                self.interface.lines = [
                    ln for ln in self.interface.lines if not ln.startswith("description")
                ]
                self.interface.lines.insert(0, command.strip())
            elif head == "shutdown" and "shutdown" not in self.interface.lines:
                self.interface.lines.append("shutdown")
            elif head == "ip":
                self.interface.lines = [
                    ln
                    for ln in self.interface.lines
                    if not ln.startswith(("ip address", "no ip address"))
                ]
                self.interface.lines.insert(0, " ".join(words))
            self.device.touch()
            return ""
        if head == "no" and len(words) > 1 and words[1].lower() == "shutdown":
            self.interface.lines = [ln for ln in self.interface.lines if ln != "shutdown"]
            self.device.touch()
            return ""
        return None

    # ------------------------------------------------------------------ ntp

    def _ntp_tree(self, *, negate: bool) -> dict[str, Node]:
        tree: dict[str, Node] = {
            "server": lambda a: self._ntp_server(a, negate),
            "source": lambda a: self._ntp_source(a, negate),
            "authenticate": lambda a: self._ntp_flag("authenticate", a, negate),
            "authentication-key": lambda a: self._ntp_key(a, negate),
            "trusted-key": lambda a: self._ntp_trusted(a, negate),
            "access-group": lambda a: self._ntp_access_group(a, negate),
            "master": lambda a: self._ntp_master(a, negate),
            "logging": lambda a: "",
        }
        if not self.device.spec.faults.no_calendar:
            # Catalyst 2960/3750-X have no hardware calendar: the keyword does not exist.
            tree["update-calendar"] = lambda a: self._ntp_flag("update-calendar", a, negate)
        return tree

    def _no_ntp(self, args: list[Token]) -> str:
        if not args:
            self.device.config.clear_ntp()
            self._changed()
            return ""
        return dispatch(self._ntp_tree(negate=True), args, args[-1].start + len(args[-1].text))

    def _changed(self) -> None:
        self.device.touch()
        self.device.apply_ntp()

    def _ntp_server(self, args: list[Token], negate: bool) -> str:
        if not args:
            raise CliError("incomplete")
        i = 0
        vrf = None
        if args[0].text.lower() == "vrf":
            if len(args) < 3:
                raise CliError("incomplete")
            vrf = args[1].text
            i = 2
        if i < len(args) and args[i].text.lower() in ("ip", "ipv6"):
            i += 1
        if i >= len(args):
            raise CliError("incomplete")
        address_tok = args[i]
        address = address_tok.text
        if not is_ip(address) and not re.match(r"^[A-Za-z][\w.-]*$", address):
            raise CliError("invalid", address_tok.start)
        i += 1
        if negate:
            self.device.config.remove_server(address, vrf)
            self._changed()
            return ""
        opts: dict[str, object] = {}
        keywords = ("burst", "iburst", "key", "minpoll", "maxpoll", "prefer", "source", "version")
        while i < len(args):
            word = match_keyword(args[i], keywords)
            if word in ("burst", "iburst", "prefer"):
                opts[word] = True
                i += 1
                continue
            if i + 1 >= len(args):
                raise CliError("incomplete")
            value = args[i + 1]
            if word == "source":
                opts["source"] = value.text
            else:
                bounds = {
                    "key": (1, 4294967295),
                    "minpoll": (4, 17),
                    "maxpoll": (4, 17),
                    "version": (1, 4),
                }[word]
                opts[word] = _int_token(value, *bounds)
            i += 2
        server = IosNtpServer(
            address=address,
            vrf=vrf,
            burst=bool(opts.get("burst")),
            iburst=bool(opts.get("iburst")),
            key=_opt_int(opts.get("key")),
            minpoll=_opt_int(opts.get("minpoll")),
            maxpoll=_opt_int(opts.get("maxpoll")),
            prefer=bool(opts.get("prefer")),
            source=str(opts["source"]) if "source" in opts else None,
            version=_opt_int(opts.get("version")),
        )
        self.device.config.set_server(server)
        self._changed()
        return ""

    def _ntp_source(self, args: list[Token], negate: bool) -> str:
        if negate:
            self.device.config.ntp_source = None
        else:
            if not args:
                raise CliError("incomplete")
            self.device.config.ntp_source = "".join(a.text for a in args)
        self._changed()
        return ""

    def _ntp_flag(self, name: str, args: list[Token], negate: bool) -> str:
        _no_args(args)
        if name == "authenticate":
            self.device.config.ntp_authenticate = not negate
        else:
            self.device.config.ntp_update_calendar = not negate
        self._changed()
        return ""

    def _ntp_key(self, args: list[Token], negate: bool) -> str:
        if not args:
            raise CliError("incomplete")
        key_id = _int_token(args[0], 1, 4294967295)
        if negate:
            self.device.config.ntp_keys.pop(key_id, None)
            self._changed()
            return ""
        if len(args) < 3:
            raise CliError("incomplete")
        alg = match_keyword(args[1], ("md5", "sha1", "sha2", "cmac-aes-128"))
        secret = args[2].text
        if len(args) >= 4:
            if args[3].text == "7":
                encoded = secret
            elif args[3].text == "0":
                encoded = type7_encode(secret)
            else:
                raise CliError("invalid", args[3].start)
        else:
            encoded = type7_encode(secret)
        self.device.config.ntp_keys[key_id] = (alg, encoded)
        self._changed()
        return ""

    def _ntp_trusted(self, args: list[Token], negate: bool) -> str:
        if not args:
            raise CliError("incomplete")
        first = _int_token(args[0], 1, 4294967295)
        last = first
        if len(args) == 3 and args[1].text == "-":
            last = _int_token(args[2], first, 4294967295)
        elif len(args) != 1:
            raise CliError("invalid", args[1].start)
        keys = set(self.device.config.ntp_trusted_keys)
        for k in range(first, min(last, first + 1000) + 1):
            if negate:
                keys.discard(k)
            else:
                keys.add(k)
        self.device.config.ntp_trusted_keys = sorted(keys)
        self._changed()
        return ""

    def _ntp_access_group(self, args: list[Token], negate: bool) -> str:
        rest = list(args)
        if rest and rest[0].text.lower() in ("ipv4", "ipv6"):
            rest = rest[1:]
        if not rest:
            raise CliError("incomplete")
        kind = match_keyword(rest[0], ("peer", "serve", "serve-only", "query-only"))
        if negate:
            self.device.config.ntp_access_groups.pop(kind, None)
            self._changed()
            return ""
        if len(rest) < 2:
            raise CliError("incomplete")
        kod = False
        if len(rest) == 3:
            match_keyword(rest[2], ("kod",))
            kod = True
        elif len(rest) > 3:
            raise CliError("invalid", rest[3].start)
        self.device.config.ntp_access_groups[kind] = (rest[1].text, kod)
        self._changed()
        return ""

    def _ntp_master(self, args: list[Token], negate: bool) -> str:
        if negate:
            self.device.config.ntp_master = None
        else:
            self.device.config.ntp_master = _int_token(args[0], 1, 15) if args else 8
        self._changed()
        return ""

    # ------------------------------------------------------------------ access lists

    def _access_list(self, args: list[Token]) -> str:
        if len(args) < 3:
            raise CliError("incomplete")
        number = _int_token(args[0], 1, 99)
        action = match_keyword(args[1], ("permit", "deny", "remark"))
        if action == "remark":
            return ""
        target = [a.text for a in args[2:]]
        network: ipaddress.IPv4Network | None
        try:
            if target[0].lower() == "any":
                network = None
                text_target = "any"
            elif target[0].lower() == "host":
                network = ipaddress.IPv4Network(f"{target[1]}/32")
                text_target = f"host {target[1]}"
            else:
                wildcard = target[1] if len(target) > 1 else "0.0.0.0"
                mask = ipaddress.IPv4Address(int(ipaddress.IPv4Address(wildcard)) ^ 0xFFFFFFFF)
                network = ipaddress.IPv4Network(f"{target[0]}/{mask}", strict=False)
                text_target = f"{target[0]} {wildcard}" if len(target) > 1 else target[0]
        except (ValueError, IndexError) as exc:
            raise CliError("invalid", args[2].start) from exc
        text = f"access-list {number} {action} {text_target}"
        self.device.config.acls.setdefault(str(number), []).append(
            AclEntry(action == "permit", network, text)
        )
        self._changed()
        return ""

    def _no_access_list(self, args: list[Token]) -> str:
        if not args:
            raise CliError("incomplete")
        self.device.config.acls.pop(args[0].text, None)
        self._changed()
        return ""


class _Close(Exception):
    """The session ends (exit/logout)."""


def _no_args(args: list[Token]) -> None:
    if args:
        raise CliError("invalid", args[0].start)


def _int_token(token: Token, low: int, high: int) -> int:
    try:
        value = int(token.text)
    except ValueError as exc:
        raise CliError("invalid", token.start) from exc
    if not low <= value <= high:
        raise CliError("invalid", token.start)
    return value


def _int_arg(args: list[Token], low: int, high: int) -> int:
    if not args:
        raise CliError("incomplete")
    if len(args) > 1:
        raise CliError("invalid", args[1].start)
    return _int_token(args[0], low, high)


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
