"""A simulated Windows host: Win32-OpenSSH with cmd.exe as the default shell.

Exec channels run one cmd.exe command line (`&&`, `&` and `||` chain as in cmd). The
w32time commands keep Windows' own semantics: `w32tm /config` only writes the
registry, `/update` (or a service restart) makes the service use it, `/resync` asks the
service for an immediate sync. Messages and exit codes are those Windows prints
(`The command completed successfully.`, `The following error occurred: The service has
not been started. (0x80070426)`, NET HELPMSG 3521/2182).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from orchestrator.lab import formats
from orchestrator.lab.device import ExecResult, Reply, SimDevice
from orchestrator.lab.ios_config import is_ip
from orchestrator.lab.ntp_runtime import ServerTarget
from orchestrator.lab.spec import DeviceSpec, LabSpec
from orchestrator.ntp import onwire, packet, timestamps

SUCCESS = "The command completed successfully.\n"
ERR_NOT_STARTED = "The following error occurred: The service has not been started. (0x80070426)\n"
ERR_BAD_PARAM = "The following error occurred: The parameter is incorrect. (0x80070057)\n"
HR_NOT_STARTED = 0x80070426
HR_BAD_PARAM = 0x80070057
POLICY_KEY = r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\W32Time\Parameters"
POLICY_PEERS = "time.windows.com,0x9"  # the policy's default NtpServer value


class WindowsDevice(SimDevice):
    platform = "windows"

    def __init__(self, spec: DeviceSpec, lab: LabSpec) -> None:
        super().__init__(spec, lab)
        self.running = True
        # Registry (HKLM\SYSTEM\CurrentControlSet\Services\W32Time\Parameters).
        self.reg_peers = "time.windows.com,0x9"
        self.reg_type = "NT5DS"
        # What the running service uses (registry as of the last /update or start).
        self.active_peers = ""
        self.active_type = "NT5DS"
        self.domain_policy = spec.faults.domain_policy

    def start(self) -> None:
        self._reload()

    def new_shell(self) -> WindowsShell:
        return WindowsShell(self)

    # ------------------------------------------------------------------ service

    @property
    def effective(self) -> tuple[str, str]:
        """(NtpServer, Type) the service obeys: a group policy wins over local settings."""
        if self.domain_policy:
            return POLICY_PEERS, "NTP"
        return self.reg_peers, self.reg_type

    def _reload(self) -> None:
        self.active_peers, self.active_type = self.effective
        targets = []
        if self.running and self.active_type == "NTP":
            for name, _flags in self.peer_entries():
                if is_ip(name):
                    targets.append(ServerTarget(address=name, iburst=True))
        self.ntp.configure(targets)

    def peer_entries(self) -> list[tuple[str, str]]:
        entries = []
        for item in self.active_peers.split():
            name, _, flags = item.partition(",")
            entries.append((name, flags))
        return entries

    # ------------------------------------------------------------------ exec

    def exec_command(self, command: str) -> ExecResult:
        return run_cmdline(self, command)

    async def exec_command_async(self, command: str) -> ExecResult:
        argv = split_arguments(command.strip())
        if (
            len(argv) > 1
            and argv[0].lower() in ("w32tm", "w32tm.exe")
            and any(a.lower() == "/stripchart" for a in argv[1:])
        ):
            return await stripchart(self, _options(argv[1:]))
        return self.exec_command(command)


def run_cmdline(device: WindowsDevice, command: str) -> ExecResult:
    """cmd.exe: run `a && b || c & d` left to right with cmd's chaining rules."""
    text = command.strip()
    m = re.match(r"^(?:cmd(?:\.exe)?\s+/c\s+)(.*)$", text, re.I)
    if m:
        text = m.group(1).strip().strip('"') if m.group(1).count('"') == 2 else m.group(1)
    stdout, stderr, status = "", "", 0
    for op, part in split_chain(text):
        if op == "&&" and status != 0:
            continue
        if op == "||" and status == 0:
            continue
        result = _run_one(device, part.strip())
        stdout += result.stdout
        stderr += result.stderr
        status = result.exit_status
    return ExecResult(stdout, stderr, status)


def split_chain(text: str) -> list[tuple[str, str]]:
    """Split a cmd.exe line at `&`, `&&` and `||` -> [(operator before, command)].

    As cmd.exe does: inside double quotes these characters are plain text, and outside
    quotes a caret escapes the next character (`^&` is a literal `&`; the caret goes).
    """
    commands: list[tuple[str, str]] = []
    op, current = "&", []
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            quoted = not quoted
            current.append(ch)
        elif quoted:
            current.append(ch)
        elif ch == "^" and i + 1 < len(text):
            i += 1
            current.append(text[i])
        elif ch == "&" or (ch == "|" and text[i : i + 2] == "||"):
            commands.append((op, "".join(current)))
            op = text[i : i + 2] if text[i : i + 2] in ("&&", "||") else "&"
            i += len(op)
            current = []
            continue
        else:
            current.append(ch)
        i += 1
    commands.append((op, "".join(current)))
    return commands


def _run_one(device: WindowsDevice, command: str) -> ExecResult:
    if not command:
        return ExecResult("")
    argv = split_arguments(command)
    if not argv:
        return ExecResult("")
    name = argv[0].lower()
    if name.endswith(".exe"):
        name = name[:-4]
    args = argv[1:]
    if name == "w32tm":
        return _w32tm(device, args)
    if name == "net":
        return _net(device, args)
    if name == "reg":
        return _reg(device, args)
    if name == "hostname":
        return ExecResult(device.spec.name + "\n")
    if name == "echo":
        return ExecResult(command[5:] + "\n")
    if name == "ver":
        return ExecResult("\nMicrosoft Windows [Version 10.0.20348.2340]\n")
    return ExecResult(
        "",
        f"'{argv[0]}' is not recognized as an internal or external command,\n"
        "operable program or batch file.\n",
        1,
    )


def split_arguments(command: str) -> list[str]:
    """Split a command line the way Windows programs do (the Microsoft C runtime rules,
    "Parsing C command-line arguments"; CommandLineToArgvW follows them):

    - space and tab separate arguments, except inside double quotes;
    - a double quote starts or ends quoting anywhere in an argument and is removed, so
      `/manualpeerlist:"a,0x8 b,0x8"` and `"/manualpeerlist:a,0x8 b,0x8"` are one argument;
    - inside quotes, `""` is one literal quote (and ends the quoted part);
    - backslashes are literal unless they precede a quote: 2n of them then a quote give
      n backslashes and a quote that toggles quoting, 2n+1 give n and a literal quote;
    - a line that ends inside quotes ends the last argument there.
    """
    args: list[str] = []
    current: list[str] = []
    quoted = started = False
    i, n = 0, len(command)
    while i < n:
        ch = command[i]
        if ch == "\\":
            run = i
            while run < n and command[run] == "\\":
                run += 1
            count = run - i
            if run < n and command[run] == '"':
                current.append("\\" * (count // 2))
                if count % 2:  # the odd backslash escapes the quote
                    current.append('"')
                    i = run + 1
                else:  # the quote is a delimiter, handled on the next turn
                    i = run
                started = True
                continue
            current.append("\\" * count)
            i = run
            continue
        if ch == '"':
            if quoted and command[i + 1 : i + 2] == '"':
                current.append('"')
                quoted = False
                i += 2
                continue
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if current or started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(ch)
        i += 1
    if current or started:
        args.append("".join(current))
    return args


def _options(args: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    for arg in args:
        if not arg.startswith(("/", "-")):
            continue
        key, _, value = arg[1:].partition(":")
        opts[key.lower()] = value
    return opts


def _w32tm(device: WindowsDevice, args: list[str]) -> ExecResult:
    opts = _options(args)
    if "config" in opts:
        if "manualpeerlist" in opts:
            device.reg_peers = opts["manualpeerlist"]
        if "syncfromflags" in opts:
            flag = opts["syncfromflags"].lower()
            types = {"manual": "NTP", "domhier": "NT5DS", "all": "AllSync", "no": "NoSync"}
            if flag not in types:
                return ExecResult(ERR_BAD_PARAM, "", HR_BAD_PARAM)
            device.reg_type = types[flag]
        if "update" in opts:
            if not device.running:
                return ExecResult(ERR_NOT_STARTED, "", HR_NOT_STARTED)
            device._reload()
        return ExecResult(SUCCESS)
    if "resync" in opts:
        if not device.running:
            return ExecResult(
                "Sending resync command to local computer\n" + ERR_NOT_STARTED, "", HR_NOT_STARTED
            )
        device.ntp.poll_now()
        if not device.ntp.peers:
            return ExecResult(
                "Sending resync command to local computer\n"
                "The computer did not resync because no time data was available.\n",
                "",
                0x800705B4,
            )
        return ExecResult("Sending resync command to local computer\n" + SUCCESS)
    if "query" in opts:
        if not device.running:
            return ExecResult(ERR_NOT_STARTED, "", HR_NOT_STARTED)
        return _query(device, opts)
    return ExecResult(ERR_BAD_PARAM, "", HR_BAD_PARAM)


async def stripchart(device: WindowsDevice, opts: dict[str, str]) -> ExecResult:
    """`w32tm /stripchart /computer:T [/samples:N] [/period:S] [/dataonly]`: real NTP
    queries from the host's address to T, one line per sample.

    /dataonly layout from public captures ("Tracking dcorp-dc... [172.16.2.1:123].",
    "Collecting 5 samples.", "The current time is 2/20/2025 4:17:25 AM.", "04:17:25,
    +00.0009583s"); a lost sample prints "error: 0x800705B4" (timeout). The offset is the
    target's clock minus this host's (NTP sign convention).
    """
    target = opts.get("computer", "")
    if not target or not is_ip(target):
        return ExecResult(ERR_BAD_PARAM, "", HR_BAD_PARAM)
    try:
        samples = max(1, int(opts.get("samples", "5")))
        period = max(0.1, float(opts.get("period", "2")))
    except ValueError:
        return ExecResult(ERR_BAD_PARAM, "", HR_BAD_PARAM)
    port = device.lab.ntp_port
    lines = [
        f"Tracking {target} [{target}:{port}].",
        f"Collecting {samples} samples.",
        f"The current time is {formats.w32_time(device.clock.now())}.",
    ]
    for i in range(samples):
        if i:
            await asyncio.sleep(period)
        stamp = time.strftime("%H:%M:%S", time.gmtime(device.clock.now()))
        offset = None
        if target not in device.spec.faults.unreachable_servers:
            offset = await query_offset(device.spec.address, target, port, device.clock.now)
        lines.append(
            f"{stamp}, error: 0x800705B4"
            if offset is None
            else f"{stamp}, {'+' if offset >= 0 else '-'}{abs(offset):010.7f}s"
        )
    return ExecResult("\n".join(lines) + "\n")


async def query_offset(
    source: str, target: str, port: int, now: Callable[[], float], timeout_s: float = 1.0
) -> float | None:
    """One mode-3 exchange from `source`; the measured offset in seconds, or None."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[tuple[bytes, float]] = loop.create_future()

    class _Once(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | bytes | int, ...]) -> None:
            if not answer.done():
                answer.set_result((data, now()))

    try:
        transport, _ = await loop.create_datagram_endpoint(
            _Once, local_addr=(source, 0), remote_addr=(target, port)
        )
    except OSError:
        return None
    try:
        t1 = timestamps.from_unix_s(now())
        transport.sendto(packet.client_request(t1).encode())
        data, arrival = await asyncio.wait_for(answer, timeout_s)
        reply = packet.decode(data)
        if reply.origin_ts != t1 or reply.is_kod or reply.transmit_ts == 0:
            return None
        t4 = timestamps.from_unix_s(arrival)
        return onwire.measure(t1, reply.receive_ts, reply.transmit_ts, t4).offset_s
    except (TimeoutError, OSError, packet.PacketError):
        return None
    finally:
        transport.close()


def _sync_source(device: WindowsDevice) -> str | None:
    status = device.ntp.status()
    if not status.synchronized:
        return None
    for name, flags in device.peer_entries():
        if name == status.reference:
            return f"{name},{flags}" if flags else name
    return status.reference


def _query(device: WindowsDevice, opts: dict[str, str]) -> ExecResult:
    status = device.ntp.status()
    poll = 6
    peers = device.ntp.peers
    if peers:
        poll = peers[0].hpoll
    if "status" in opts:
        return ExecResult(
            formats.w32tm_status(
                status=status,
                source=_sync_source(device),
                last_sync_s=status.reference_time_s,
                poll=poll,
                verbose="verbose" in opts,
                now_s=device.clock.now(),
            )
        )
    if "source" in opts:
        return ExecResult((_sync_source(device) or "Local CMOS Clock") + "\n")
    if "peers" in opts:
        by_address = {p.address: p for p in peers}
        now = device.clock.now()
        rows = []
        for name, flags in device.peer_entries():
            assoc = by_address.get(name)
            remaining = (assoc.next_poll_s - now) if assoc is not None else 0.0
            rows.append((f"{name},{flags}" if flags else name, assoc, remaining))
        return ExecResult(formats.w32tm_peers(rows))
    if "configuration" in opts:
        origin = "(Policy)" if device.domain_policy else "(Local)"
        peers_text, type_text = device.effective
        return ExecResult(
            "[Configuration]\n\n"
            "EventLogFlags: 2 (Local)\n"
            "AnnounceFlags: 10 (Local)\n"
            "TimeJumpAuditOffset: 28800 (Local)\n"
            "MinPollInterval: 6 (Local)\n"
            "MaxPollInterval: 10 (Local)\n\n"
            "[TimeProviders]\n\n"
            "NtpClient (Local)\n"
            "DllName: C:\\Windows\\system32\\w32time.dll (Local)\n"
            "Enabled: 1 (Local)\n"
            "InputProvider: 1 (Local)\n"
            f"Type: {type_text} {origin}\n"
            f"NtpServer: {peers_text} {origin}\n"
        )
    return ExecResult(ERR_BAD_PARAM, "", HR_BAD_PARAM)


def _net(device: WindowsDevice, args: list[str]) -> ExecResult:
    if len(args) != 2 or args[1].lower() not in ("w32time", "windows time"):
        return ExecResult("", "The syntax of this command is:\n\nNET\n", 1)
    verb = args[0].lower()
    if verb == "stop":
        if not device.running:
            return ExecResult(
                "",
                "The Windows Time service is not started.\n\n"
                "More help is available by typing NET HELPMSG 3521.\n\n",
                2,
            )
        device.running = False
        device._reload()
        return ExecResult(
            "The Windows Time service is stopping.\n"
            "The Windows Time service was stopped successfully.\n\n"
        )
    if verb == "start":
        if device.running:
            return ExecResult(
                "",
                "The requested service has already been started.\n\n"
                "More help is available by typing NET HELPMSG 2182.\n\n",
                2,
            )
        device.running = True
        device._reload()
        return ExecResult(
            "The Windows Time service is starting.\n"
            "The Windows Time service was started successfully.\n\n"
        )
    return ExecResult("", "The syntax of this command is:\n\nNET\n", 1)


def _reg(device: WindowsDevice, args: list[str]) -> ExecResult:
    if not args or args[0].lower() != "query" or len(args) < 2:
        return ExecResult("", 'ERROR: Invalid syntax.\nType "REG /?" for usage.\n', 1)
    key = args[1].upper().replace("HKLM", "HKEY_LOCAL_MACHINE")
    if key == POLICY_KEY.upper() and device.domain_policy:
        return ExecResult(
            f"\n{POLICY_KEY}\n"
            f"    NtpServer    REG_SZ    {POLICY_PEERS}\n"
            "    Type    REG_SZ    NTP\n\n"
        )
    params = r"HKEY_LOCAL_MACHINE\SYSTEM\CURRENTCONTROLSET\SERVICES\W32TIME\PARAMETERS"
    if key == params:
        return ExecResult(
            "\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\W32Time\\Parameters\n"
            f"    NtpServer    REG_SZ    {device.reg_peers}\n"
            f"    Type    REG_SZ    {device.reg_type}\n\n"
        )
    return ExecResult(
        "", "ERROR: The system was unable to find the specified registry key or value.\n", 1
    )


class WindowsShell:
    """An interactive cmd.exe session (`ssh host` without a command)."""

    def __init__(self, device: WindowsDevice) -> None:
        self.device = device

    def banner(self) -> str:
        return (
            "Microsoft Windows [Version 10.0.20348.2340]\n"
            "(c) Microsoft Corporation. All rights reserved.\n\n"
        )

    def prompt(self) -> str:
        return f"C:\\Users\\{self.device.spec.username}>"

    def echo(self) -> bool:
        return True

    def handle(self, line: str) -> Reply:
        if line.strip().lower() == "exit":
            return Reply("", close=True)
        result = run_cmdline(self.device, line)
        return Reply(result.stdout + result.stderr + "\n")
