"""Device states for the evaluator tests, built from real-format captures.

Each builder keeps the raw text it stands for (the evidence a verdict carries) and
the values a parser reads from it. Formats follow published captures:
- IOS `show ntp associations` / `show ntp status`: Cisco TechNote 108076 ("Troubleshoot
  and Debug NTP Issues") and genieparser's iosxe show_ntp unit-test outputs (15.x legend).
- chrony `chronyc -n sources`: chronyc(1) man page example (Ubuntu manpages, chrony 4).
- w32tm `/query /status`: Microsoft "Windows Time service tools and settings" and the
  sample outputs listed in shared/reference/platforms.md [R37].
"""

from __future__ import annotations

from orchestrator.models import (
    Association,
    ConfiguredNtp,
    DesiredNtp,
    DeviceState,
    Host,
    NtpServerSpec,
    NtpStatus,
    Thresholds,
)

OUR_SERVER = "10.10.10.1"
OTHER_SERVER = "192.0.2.55"


def host(
    name: str = "rtr1",
    platform: str = "cisco_ios",
    *,
    hostname: str = "10.1.1.1",
    servers: tuple[str, ...] = (OUR_SERVER,),
    thresholds: Thresholds | None = None,
    data: tuple[tuple[str, str], ...] = (),
) -> Host:
    return Host(
        name=name,
        hostname=hostname,
        platform=platform,
        port=22,
        username="admin",
        password=None,
        site="hq",
        groups=(),
        desired=DesiredNtp(
            servers=tuple(NtpServerSpec(a) for a in servers),
            thresholds=thresholds or Thresholds(max_offset_ms=100.0, max_stratum=15, min_reach=4),
        ),
        data=data,
    )


def ios_assoc(
    address: str,
    refid: str,
    st: int,
    when: int | None,
    poll: int,
    reach_octal: str,
    delay: float,
    offset: float,
    disp: float,
    tally: str,
) -> Association:
    """One `show ntp associations` row, as the parser normalises it (reach decoded from octal)."""
    states = {"*": "sys.peer", "+": "candidate", "-": "outlier", "x": "falseticker"}
    reach = int(reach_octal, 8)
    return Association(
        address=address,
        refid=refid,
        stratum=st,
        when_s=when,
        poll_s=poll,
        reach=reach,
        delay_ms=delay,
        offset_ms=offset,
        jitter_ms=None,  # IOS prints dispersion, not jitter
        dispersion_ms=disp,
        selected=tally == "*",
        state=states.get(tally, "unreachable" if reach == 0 else "configured"),  # type: ignore[arg-type]
        configured=True,
    )


def ios_state(
    *,
    server: str = OUR_SERVER,
    synced: bool = True,
    reach_octal: str = "377",
    offset_ms: float = -0.5,
    st: int = 1,
    configured: tuple[str, ...] = (OUR_SERVER,),
    access_groups: tuple[str, ...] = (),
) -> DeviceState:
    tally = "*" if synced else " "
    assoc_raw = (
        "\n  address         ref clock       st   when   poll reach  delay  offset   disp\n"
        f"{tally}~{server:<15} {'.GPS.':<15} {st if synced else 16:>2}"
        f"     27     64   {reach_octal:>3}  1.000  {offset_ms:>6}  "
        f"{'1.9' if synced else '15937.'}\n"
        " * sys.peer, # selected, + candidate, - outlyer, x falseticker, ~ configured\n"
    )
    if synced:
        status_raw = (
            f"Clock is synchronized, stratum {st + 1}, reference is {server}\n"
            "nominal freq is 250.0000 Hz, actual freq is 249.9990 Hz, precision is 2**24\n"
            "reference time is D5E492E9.98ABB3D3 (09:14:49.596 UTC Thu Sep 7 2017)\n"
            f"clock offset is {offset_ms} msec, root delay is 1.00 msec\n"
            "root dispersion is 2.71 msec, peer dispersion is 1.90 msec\n"
        )
        status = NtpStatus(True, st + 1, server, offset_ms, 1.0, 2.71, "none", None)
    else:
        status_raw = (
            "Clock is unsynchronized, stratum 16, no reference clock\n"
            "nominal freq is 250.0000 Hz, actual freq is 250.0000 Hz, precision is 2**24\n"
            "reference time is 00000000.00000000 (00:00:00.000 UTC Mon Jan 1 1900)\n"
            "clock offset is 0.0000 msec, root delay is 0.00 msec\n"
        )
        status = NtpStatus(False, 16, None, 0.0, 0.0, None, "unsynchronised", None)
    config_raw = "\n".join(
        [*(f"ntp server {a}" for a in configured), *access_groups, "ntp update-calendar"]
    )
    assoc = ios_assoc(
        server,
        ".GPS." if synced else ".INIT.",
        st if synced else 16,
        27,
        64,
        reach_octal,
        1.0,
        offset_ms,
        1.9 if synced else 15937.0,
        tally.strip(),
    )
    return DeviceState(
        host="rtr1",
        platform="cisco_ios",
        configured=ConfiguredNtp(
            servers=tuple(NtpServerSpec(a) for a in configured),
            update_calendar=True,
            access_groups=access_groups,
        ),
        associations=(assoc,),
        status=status,
        raw=(
            ("show ntp associations", assoc_raw),
            ("show ntp status", status_raw),
            ("show running-config | include ^ntp", config_raw),
        ),
    )


def chrony_state(*, server: str = OUR_SERVER, offset_us: float = -136.0) -> DeviceState:
    raw = (
        "MS Name/IP address         Stratum Poll Reach LastRx Last sample\n"
        "===============================================================================\n"
        f"^* {server:<27} 2   6   377    35   {offset_us:+.0f}us[ -183us] +/-   17ms\n"
    )
    assoc = Association(
        address=server,
        refid=None,
        stratum=2,
        when_s=35,
        poll_s=64,
        reach=0o377,
        delay_ms=None,
        offset_ms=offset_us / 1000.0,
        jitter_ms=None,
        dispersion_ms=17.0,
        selected=True,
        state="sys.peer",
        configured=True,
    )
    return DeviceState(
        host="lnx1",
        platform="linux",
        configured=ConfiguredNtp(servers=(NtpServerSpec(server),)),
        associations=(assoc,),
        status=NtpStatus(True, 3, server, offset_us / 1000.0, 17.0, 1.2, "none", None),
        raw=(("chronyc -n sources", raw),),
    )


def windows_state(*, server: str = OUR_SERVER, domain_policy: bool = False) -> DeviceState:
    raw = (
        "Leap Indicator: 0(no warning)\n"
        "Stratum: 3 (secondary reference - syncd by (S)NTP)\n"
        "Precision: -23 (119.209ns per tick)\n"
        "Root Delay: 0.0312500s\n"
        "Root Dispersion: 7.8137778s\n"
        f"ReferenceId: 0x0A0A0A01 (source IP:  {server})\n"
        "Last Successful Sync Time: 3/14/2019 9:12:47 AM\n"
        f"Source: {server},0x8\n"
        "Poll Interval: 10 (1024s)\n"
    )
    return DeviceState(
        host="win1",
        platform="windows",
        configured=ConfiguredNtp(servers=(NtpServerSpec(server),), domain_policy=domain_policy),
        associations=(),
        status=NtpStatus(
            True, 3, f"{server},0x8", None, 31.25, 7813.7778, "none", "3/14/2019 9:12:47 AM"
        ),
        raw=(("w32tm /query /status", raw),),
    )


def catos_state(*, configured: tuple[str, ...] = (OUR_SERVER,), synced: bool = True) -> DeviceState:
    """CatOS `show ntp` names no sync peer: only `Last NTP update` and the server table
    (Catalyst 6500/4000 CatOS command reference example; see orchestrator/lab/formats.py)."""
    table = "\n".join(configured)
    raw = (
        "Current time: Tue Jun 23 1998, 20:29:25\n"
        "Timezone: '', offset from UTC is 0 hours\n"
        "Summertime: '', disabled\n"
        f"Last NTP update: {'Tue Jun 23 1998, 20:29:07' if synced else ''}\n"
        "Broadcast client mode: disabled\n"
        "Broadcast delay: 3000 microseconds\n"
        "Client mode: enabled\n"
        "Authentication: disabled\n\n"
        "NTP-Server                               Server Key\n"
        "---------------------------------------- ----------\n"
        f"{table}\n"
    )
    return DeviceState(
        host="cat1",
        platform="cisco_catos",
        configured=ConfiguredNtp(servers=tuple(NtpServerSpec(a) for a in configured)),
        associations=(),
        status=NtpStatus(synced, None, None, None, None, None, None, "Tue Jun 23 1998, 20:29:07"),
        raw=(("show ntp", raw),),
    )
