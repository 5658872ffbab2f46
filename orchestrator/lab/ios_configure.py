"""Configuration mode of the simulated IOS device: `(config)#` and `(config-if)#` commands.

Grammar as IOS 15 accepts it (abbreviations, `no` forms, `do`): hostname, enable secret,
interface, standard numbered access lists and the ntp family (server, source,
authenticate, authentication-key, trusted-key, access-group, master, update-calendar).
Every change lands in the device's IosConfig and, for NTP, in its running NTP client.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from orchestrator.lab.cli_tokens import (
    CliError,
    Node,
    Token,
    dispatch,
    int_token,
    match_keyword,
    no_args,
    tokenize,
)
from orchestrator.lab.ios_config import AclEntry, Interface, IosNtpServer, is_ip
from orchestrator.type7 import encode_type7

if TYPE_CHECKING:
    from orchestrator.lab.ios import IosDevice


class IosConfigMode:
    """The configuration-mode half of an IOS CLI session (mixed into IosShell)."""

    device: IosDevice
    mode: str
    interface: Interface | None

    def _exec(self, command: str) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ config mode

    def _config(self, command: str, raw: str) -> str:
        tokens = tokenize(command)
        if not tokens:
            return ""
        first = tokens[0].text.lower()
        faults = self.device.spec.faults
        for prefix in faults.reject_commands:
            if " ".join(t.text for t in tokens).lower().startswith(prefix.lower()):
                raise CliError(faults.reject_message, tokens[0].start)
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
        no_args(args)
        self.mode = "enable"
        self.interface = None
        return ""

    def _exit_config(self, args: list[Token]) -> str:
        no_args(args)
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
                opts[word] = int_token(value, *bounds)
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
        no_args(args)
        if name == "authenticate":
            self.device.config.ntp_authenticate = not negate
        else:
            self.device.config.ntp_update_calendar = not negate
        self._changed()
        return ""

    def _ntp_key(self, args: list[Token], negate: bool) -> str:
        if not args:
            raise CliError("incomplete")
        key_id = int_token(args[0], 1, 4294967295)
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
                encoded = encode_type7(secret)
            else:
                raise CliError("invalid", args[3].start)
        else:
            encoded = encode_type7(secret)
        self.device.config.ntp_keys[key_id] = (alg, encoded)
        self._changed()
        return ""

    def _ntp_trusted(self, args: list[Token], negate: bool) -> str:
        if not args:
            raise CliError("incomplete")
        first = int_token(args[0], 1, 4294967295)
        last = first
        if len(args) == 3 and args[1].text == "-":
            last = int_token(args[2], first, 4294967295)
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
            self.device.config.ntp_master = int_token(args[0], 1, 15) if args else 8
        self._changed()
        return ""

    # ------------------------------------------------------------------ access lists

    def _access_list(self, args: list[Token]) -> str:
        if len(args) < 3:
            raise CliError("incomplete")
        number = int_token(args[0], 1, 99)
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


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
