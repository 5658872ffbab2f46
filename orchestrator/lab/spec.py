"""What a lab is made of: plain, frozen descriptions of devices, faults and lab-wide knobs.

Nothing here does I/O. The inventory reader (lab/inventory.py) and the CLI build these;
the runtime (lab/runtime.py) brings them to life.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.models import DesiredNtp, Host, Secret

SIMULATED_PLATFORMS: tuple[str, ...] = ("cisco_ios", "cisco_catos", "windows")
DEFAULT_SSH_PORT = 2222  # unprivileged, so `orch lab up` works without root
DEFAULT_PASSWORD = "orch-lab"
DEFAULT_USERNAME = "admin"


@dataclass(frozen=True)
class Faults:
    """Misbehaviour a device can be given, so tests and demos see real failure modes."""

    # The device's real password differs from the one in the inventory: logins fail.
    wrong_password: bool = False
    # Every command answers this many seconds late.
    slow_response_s: float = 0.0
    # A command starting with this text gets half its output, then the TCP connection drops.
    drop_on_command: str | None = None
    # Configuration commands starting with one of these are refused with `% Invalid input`.
    reject_commands: tuple[str, ...] = ()
    # No hardware calendar (Catalyst 2960, 3750-X): `ntp update-calendar` is invalid.
    no_calendar: bool = False
    # The startup config holds an `ntp access-group peer` whose ACL does not permit our
    # server, so replies are refused and the device never syncs (IOS semantics).
    access_group_block: bool = False
    # Windows: a "Configure Windows NTP Client" group policy overrides the manual peers.
    domain_policy: bool = False
    # Packets from the device to these server addresses are lost (no route).
    unreachable_servers: tuple[str, ...] = ()
    # How `reject_commands` are refused: invalid (`% Invalid input detected at '^'
    # marker.`), incomplete (`% Incomplete command.`), ambiguous (`% Ambiguous command:
    # "..."`), authorization (`% Authorization failed.`) or aaa (`Command authorization
    # failed.`).
    reject_message: str = "invalid"

    # The unpleasant habits of real devices (shared reference device-quirks.md; each
    # keeps the device text of its source).
    # The device's hostname, when it differs from the inventory name: a long one
    # (`dc1-core-router-01`) is cut at 20 characters in configuration prompts.
    hostname: str | None = None
    # IOS `prompt` template for exec mode (`%h-STP-1234%p`, netmiko#2956).
    prompt: str | None = None
    # A banner: no_newline (oxidized#269: the prompt follows the MOTD on its line) or
    # prompt_chars (netmiko#3689, ssh2shell#41: banner lines with `>` and `#`).
    banner: str = ""
    # AAA: the prompt comes this long after the banner.
    login_delay_s: float = 0.0
    # The login lands in privileged mode (`R1#`, privilege 15: ntc-ansible#123).
    privilege15: bool = False
    # AAA command authorization: commands starting with one of these (exec or config
    # mode) are answered `Command authorization failed.` (ansible#59007, PR#40819).
    aaa_refuse: tuple[str, ...] = ()
    # Another session holds configuration mode: `configure terminal` is refused with
    # `Configuration mode locked exclusively by user 'netop' ...`; the device stays in
    # EXEC mode.
    config_locked: bool = False
    # EXEC mode takes an unknown word for a host name: `Translating "x"...domain server
    # (255.255.255.255)`, a delay, then `% Unknown command or computer name, ...`.
    domain_lookup: bool = False
    # `write memory` asks `Overwrite the previous NVRAM configuration?[confirm]`
    # (netmiko#1561, after an image change).
    save_confirm: bool = False
    # Seconds between `Building configuration...` and `[OK]` (netmiko#117).
    save_delay_s: float = 0.0
    # Syslog lines in the session (`terminal monitor`): plain (`%SYS-5-CONFIG_I: ...`,
    # `no service timestamps log`) or timestamps (`*Mar  1 00:01:02.123: %SYS-5-...`).
    syslog: str = ""
    # Only the legacy SSH algorithms of old IOS 12.x/15.x: SHA-1 key exchanges, ssh-rsa
    # host key, CBC ciphers, hmac-sha1/md5 (netmiko#1337, mscdex/ssh2#1064).
    legacy_ssh: bool = False
    # Keyboard-interactive authentication instead of password (Netshot#400).
    keyboard_interactive: bool = False
    # Input buffer in bytes: a chunk of several lines larger than this loses the rest
    # (netmiko#1058: pastes faster than the device reads lose characters). 0: unlimited.
    input_buffer: int = 0
    # Terminal width in columns whatever the SSH client asked for: a typed line longer
    # than the width scrolls in its echo, IOS style (`r1(config)#$ 127.0.0.10 iburst`).
    # 0: no scrolling.
    echo_width: int = 0

    @property
    def any(self) -> bool:
        return self != Faults()


@dataclass(frozen=True)
class DeviceSpec:
    """One simulated device."""

    name: str
    platform: str  # one of SIMULATED_PLATFORMS
    address: str  # loopback address it listens on and sends NTP from
    port: int = DEFAULT_SSH_PORT
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    enable_secret: str = DEFAULT_PASSWORD
    # The device clock is wrong by this much at start (seconds, positive = ahead) ...
    clock_error_s: float = 0.0
    # ... and runs fast by this many parts per million.
    drift_ppm: float = 0.0
    faults: Faults = field(default_factory=Faults)
    # Extra startup configuration lines in the platform's own syntax.
    startup_config: tuple[str, ...] = ()

    def as_host(
        self, desired: DesiredNtp, *, site: str = "lab", groups: tuple[str, ...] = ()
    ) -> Host:
        """The inventory host that reaches this device at its configured port."""
        return Host(
            name=self.name,
            hostname=self.address,
            platform=self.platform,
            port=self.port,
            username=self.username,
            password=Secret(self.password),
            site=site,
            groups=groups,
            desired=desired,
            enable_secret=Secret(self.enable_secret),
        )


@dataclass(frozen=True)
class LinuxHostsSpec:
    """Real Linux hosts (chrony, NTPsec or timesyncd) started through lab/linux_hosts.py."""

    count: int = 0
    base_address: str = "127.0.2.1"
    ssh_port: int | None = None  # None: the pool's choice (22 where free)
    # The inventory's names in address order, so `orch lab status` and the inventory
    # agree; () = the pool's linux-01, linux-02, ...
    names: tuple[str, ...] = ()
    # Each host's daemon in address order (chrony, ntpsec, timesyncd); () = all chrony.
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabSpec:
    """A whole lab: simulated devices plus lab-wide knobs."""

    devices: tuple[DeviceSpec, ...]
    # Poll interval every simulated NTP client uses instead of 2**minpoll, so a lab
    # converges in seconds; None keeps the protocol's own minpoll/maxpoll schedule.
    poll_interval_s: float | None = 2.0
    # UDP port the simulated devices send NTP to (tests run a server on an ephemeral port).
    ntp_port: int = 123
    linux: LinuxHostsSpec = field(default_factory=LinuxHostsSpec)
    # Where the shared SSH host key lives; None = generate one in memory.
    host_key_file: Path | None = None
    # Servers the real Linux hosts are pointed at on start (address, port).
    ntp_servers: tuple[tuple[str, int], ...] = (("127.0.0.1", 123),)


def lab_address(index: int) -> str:
    """The loopback address of the index-th simulated device (0-based).

    127.0.1.1-254 first; 127.0.2.x is left to the Linux hosts, so the next blocks are
    127.0.3.x, 127.0.4.x, ...
    """
    if index < 0:
        raise ValueError("device index must be >= 0")
    block, host = divmod(index, 254)
    third = 1 if block == 0 else block + 2
    if third > 255:
        raise ValueError("too many lab devices for 127.0.0.0/8 addressing")
    return f"127.0.{third}.{host + 1}"


def generated_devices(count: int, *, port: int = DEFAULT_SSH_PORT) -> tuple[DeviceSpec, ...]:
    """`count` devices for `orch lab up --devices N`: mostly IOS, some CatOS and Windows."""
    devices = []
    for i in range(count):
        kind = i % 10
        platform = "cisco_catos" if kind == 8 else "windows" if kind == 9 else "cisco_ios"
        prefix = {"cisco_ios": "ios", "cisco_catos": "catos", "windows": "win"}[platform]
        devices.append(
            DeviceSpec(
                name=f"lab-{prefix}-{i + 1:03d}",
                platform=platform,
                address=lab_address(i),
                port=port,
            )
        )
    return tuple(devices)
