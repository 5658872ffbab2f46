"""A simulated Cisco CatOS switch (Catalyst 4000/5000/6000 `set`-based CLI).

Syntax and messages from the Cisco CatOS configuration guides and command references
("Configuring NTP": `set ntp server`, `set ntp client enable`, `clear ntp server`,
`show ntp`; client mode is disabled by default, Catalyst 4000 guide Table 35-1).
"""

from __future__ import annotations

from orchestrator.lab import formats
from orchestrator.lab.cli_tokens import CliError, Node, Token, dispatch, match_keyword, tokenize
from orchestrator.lab.device import Reply, SimDevice
from orchestrator.lab.ios_config import is_ip
from orchestrator.lab.ntp_runtime import ServerTarget
from orchestrator.lab.spec import DeviceSpec, LabSpec
from orchestrator.type7 import encode_type7 as type7_encode


class CatosDevice(SimDevice):
    platform = "cisco_catos"

    def __init__(self, spec: DeviceSpec, lab: LabSpec) -> None:
        super().__init__(spec, lab)
        self.prompt_name = spec.name
        self.client_enabled = False
        self.authentication = False
        self.servers: dict[str, int | None] = {}
        self.keys: dict[int, tuple[bool, str]] = {}
        self.key_codes: dict[int, str] = {}  # number -> the value, type-7 encoded

    def start(self) -> None:
        shell = CatosShell(self, privileged=True)
        for line in self.spec.startup_config:
            shell.handle(line)
        self.apply_ntp()

    def new_shell(self) -> CatosShell:
        return CatosShell(self)

    def apply_ntp(self) -> None:
        targets = []
        if self.client_enabled:
            targets = [ServerTarget(address=a) for a in self.servers if is_ip(a)]
        self.ntp.configure(targets)

    def ntp_block(self, *, defaults: bool) -> list[str]:
        """The `#ntp` block of `show config` (non-default lines) or `show config all`.

        Order and default lines as the real WS-C5500 on CatOS 6.4(2) prints them (ZipTie
        DataCatOS5500.pm): broadcastclient, broadcastdelay, client, authentication, then
        timezone and summertime; servers and keys follow the authentication line."""
        lines = ["#ntp"]
        if defaults:
            lines += ["set ntp broadcastclient disable", "set ntp broadcastdelay 3000"]
        if self.client_enabled or defaults:
            lines.append(f"set ntp client {'enable' if self.client_enabled else 'disable'}")
        if self.authentication or defaults:
            lines.append(f"set ntp authentication {'enable' if self.authentication else 'disable'}")
        for address, key in self.servers.items():
            lines.append(f"set ntp server {address}" + (f" key {key}" if key else ""))
        for number, (trusted, _digest) in sorted(self.keys.items()):
            # As CatOS prints keys: the value type-7 encoded (`md5-encrypted 060c0e2c495d`).
            mode = "trusted" if trusted else "untrusted"
            lines.append(f"set ntp key {number} {mode} md5-encrypted {self.key_codes[number]}")
        if defaults:
            lines += ["clear timezone", "set summertime disable ", "set summertime recurring"]
        return lines


class CatosShell:
    def __init__(self, device: CatosDevice, *, privileged: bool = False) -> None:
        self.device = device
        self.enabled = privileged
        self.awaiting_password = False
        self.length = 24

    def banner(self) -> str:
        return "\nCisco Systems, Inc. Console\n\n"

    def prompt(self) -> str:
        if self.awaiting_password:
            return "Enter password: "
        name = self.device.prompt_name
        return f"{name}> (enable) " if self.enabled else f"{name}> "

    @property
    def page_length(self) -> int:
        """Lines per screen (`terminal length` / `set length`); 0 = no paging."""
        return self.length

    def echo(self) -> bool:
        return not self.awaiting_password

    def handle(self, line: str) -> Reply:
        if self.awaiting_password:
            self.awaiting_password = False
            if line == self.device.spec.enable_secret:
                self.enabled = True
                return Reply("")
            return Reply("Sorry password incorrect.\n")
        text = line.strip()
        if not text:
            return Reply("")
        tokens = tokenize(text)
        words = " ".join(text.split()).lower()
        if any(words.startswith(p.lower()) for p in self.device.spec.faults.aaa_refuse):
            return Reply("Command authorization failed.\n")  # TACACS+ command authorization
        for prefix in self.device.spec.faults.reject_commands:
            if text.lower().startswith(prefix.lower()):
                return Reply(self._unknown(text))
        tree: dict[str, Node] = {
            "enable": self._enable,
            "disable": self._disable,
            "exit": self._quit,
            "quit": self._quit,
            "logout": self._quit,
            "show": {
                "ntp": self._show_ntp,
                "version": self._show_version,
                "config": self._show_config,
                "time": self._show_time,
            },
            "set": {"length": self._set_length},
        }
        if self.enabled:
            tree["set"] = {
                "length": self._set_length,
                "ntp": {
                    "server": self._set_server,
                    "client": self._set_client,
                    "authentication": self._set_auth,
                    "key": self._set_key,
                },
                "system": {"name": self._set_name},
                "prompt": self._set_prompt,
            }
            tree["clear"] = {"ntp": {"server": self._clear_server, "key": self._clear_key}}
        try:
            output = dispatch(tree, tokens, len(text))
        except CliError:
            return Reply(self._unknown(text))
        except _Quit:
            return Reply("", close=True)
        return Reply(output + ("\n" if output and not output.endswith("\n") else ""))

    @staticmethod
    def _unknown(text: str) -> str:
        return f"Unknown command \"{text}\".  Use 'help' for more info.\n"

    def _enable(self, args: list[Token]) -> str:
        if not self.enabled:
            self.awaiting_password = True
        return ""

    def _disable(self, args: list[Token]) -> str:
        self.enabled = False
        return ""

    def _quit(self, args: list[Token]) -> str:
        raise _Quit()

    def _set_length(self, args: list[Token]) -> str:
        if len(args) < 1 or not args[0].text.isdigit():
            raise CliError("invalid", 0)
        self.length = int(args[0].text)
        if self.length == 0:
            return "Screen length for this session set to 0."
        return f"Screen length for this session set to {self.length}."

    def _set_name(self, args: list[Token]) -> str:
        if not args:
            raise CliError("incomplete")
        self.device.prompt_name = args[0].text
        return "System name set."

    def _set_prompt(self, args: list[Token]) -> str:
        if not args:
            raise CliError("incomplete")
        self.device.prompt_name = args[0].text.rstrip(">")
        return ""

    def _set_server(self, args: list[Token]) -> str:
        if not args or not is_ip(args[0].text):
            raise CliError("invalid", 0)
        key = None
        if len(args) >= 3 and match_keyword(args[1], ("key",)) == "key":
            if not args[2].text.isdigit():
                raise CliError("invalid", 0)
            key = int(args[2].text)
        self.device.servers[args[0].text] = key
        self.device.apply_ntp()
        return f"NTP server {args[0].text} added"

    def _clear_server(self, args: list[Token]) -> str:
        if not args:
            raise CliError("incomplete")
        if args[0].text.lower() == "all":
            self.device.servers.clear()
            self.device.apply_ntp()
            return "All NTP servers cleared."
        if self.device.servers.pop(args[0].text, "absent") == "absent":
            return f"NTP server {args[0].text} not found."
        self.device.apply_ntp()
        return f"NTP server {args[0].text} removed."

    def _set_client(self, args: list[Token]) -> str:
        if not args:
            raise CliError("incomplete")
        state = match_keyword(args[0], ("enable", "disable"))
        self.device.client_enabled = state == "enable"
        self.device.apply_ntp()
        return f"NTP client mode {state}d on this device."

    def _set_auth(self, args: list[Token]) -> str:
        if not args:
            raise CliError("incomplete")
        state = match_keyword(args[0], ("enable", "disable"))
        self.device.authentication = state == "enable"
        return f"NTP authentication feature {state}d on this device."

    def _set_key(self, args: list[Token]) -> str:
        if len(args) < 4 or not args[0].text.isdigit():
            raise CliError("invalid", 0)
        mode = match_keyword(args[1], ("trusted", "untrusted"))
        match_keyword(args[2], ("md5",))
        number = int(args[0].text)
        self.device.keys[number] = (mode == "trusted", args[3].text.encode().hex()[:16])
        self.device.key_codes[number] = type7_encode(args[3].text)
        return f"NTP key {number} added."

    def _clear_key(self, args: list[Token]) -> str:
        if not args:
            raise CliError("incomplete")
        if args[0].text.lower() == "all":
            self.device.keys.clear()
            return "All NTP keys cleared."
        self.device.keys.pop(int(args[0].text) if args[0].text.isdigit() else -1, None)
        return f"NTP key {args[0].text} cleared."

    def _show_ntp(self, args: list[Token]) -> str:
        dev = self.device
        status = dev.ntp.status()
        return formats.catos_show_ntp(
            now_s=dev.clock.now(),
            last_update_s=status.reference_time_s if status.synchronized else None,
            client_enabled=dev.client_enabled,
            authentication=dev.authentication,
            servers=list(dev.servers.items()),
            keys=[(n, t, d) for n, (t, d) in sorted(dev.keys.items())],
        )

    def _show_time(self, args: list[Token]) -> str:
        return formats.catos_time(self.device.clock.now())

    def _show_version(self, args: list[Token]) -> str:
        return (
            "WS-C6509 Software, Version NmpSW: 8.4(5)\n"
            "Copyright (c) 1995-2005 by Cisco Systems\n"
            "NMP S/W compiled on Mar 23 2005, 09:20:59\n\n"
            f"System Bootstrap Version: 7.1(1)\n\nHardware Version: 2.0  Model: WS-C6509  "
            f"Serial #: SCA0{abs(hash(self.device.spec.name)) % 10**7:07d}\n\n"
            f"Uptime is {int(self.device.clock.uptime_s() // 86400)} days"
        )

    def _show_config(self, args: list[Token]) -> str:
        """`show config [all]` laid out as the real WS-C5500 prints it (ZipTie
        DataCatOS5500.pm): progress dots while the configuration is built, `begin`,
        `#`-titled blocks separated by `!`, `end`."""
        everything = bool(args) and match_keyword(args[0], ("all",)) == "all"
        head = (
            []
            if everything
            else [
                "This command shows non-default configurations only.",
                "Use 'show config all' to show both default and non-default configurations.",
            ]
        )
        title = "ALL (DEFAULT and NON-DEFAULT)" if everything else "NON-DEFAULT"
        name = self.device.prompt_name
        body = [
            *head,
            "",
            "...........",
            "..................",
            "",
            "begin",
            "!",
            f"# ***** {title} CONFIGURATION *****",
            "!",
            "!",
            f"#time: {formats.catos_time(self.device.clock.now())} ",
            "!",
            "#version 6.4(2)",
            "!",
            "#system",
            f"set system name  {name}",
            "!",
            *self.device.ntp_block(defaults=everything),
            "!",
            "end",
        ]
        return "\n".join(body)


class _Quit(Exception):
    pass
