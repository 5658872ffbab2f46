"""Render NTP state in the exact text formats of the real platforms.

Every layout here is copied from published captures of real devices (sources cited at
each function); column positions were measured on those captures, not invented.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from orchestrator.ntp import packet
from orchestrator.ntp.client import MAXDISP, MAXSTRAT, PeerAssociation, SystemStatus
from orchestrator.ntp.timestamps import from_unix_s

# --------------------------------------------------------------------------- Cisco IOS

# IOS 15 / IOS-XE `show ntp associations`. Layout measured on real captures:
#   Cisco Networking Academy CCNA SRWE 10.2 "NTP" (R1 synced to 209.165.200.225, .GPS.),
#   github lab notes with `*~10.3.30.100 51.195.104.188 3 8 64 3 1.627 -1.071 63.199`
#   and `+~172.16.0.13 127.127.1.1 2 15 64 1 1.000 -0.500 189.44` (IOS 15.x),
#   napalm test/ios/mocked_data/test_get_ntp_stats; unsynchronised rows as in
#   ChartinoLabs/Muninn #1017 (` ~192.0.2.11 .TIME. 16 - 64 0 ... 15937.`).
IOS_ASSOC_HEADER = "  address         ref clock       st   when   poll reach  delay  offset   disp"
IOS_ASSOC_LEGEND = " * sys.peer, # selected, + candidate, - outlyer, x falseticker, ~ configured"


def ios_number(value: float) -> str:
    """IOS prints at most 5 significant digits, 3 decimals, and `15937.` when none fit."""
    digits = len(str(int(abs(value))))
    decimals = max(0, min(3, 5 - digits))
    if decimals == 0:
        text = f"{value:.0f}"
        return text + "." if digits <= 5 else text
    return f"{value:.{decimals}f}"


def ios_when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 1000:  # keeps the column width; IOS switches to units for long gaps
        return str(s)
    if s < 60 * 1000:
        return f"{s // 60}m"
    if s < 3600 * 1000:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def ios_refclock(peer: PeerAssociation) -> str:
    if peer.last_reply_s is None and peer.received == 0:
        return ".INIT."
    if peer.stratum <= 1 or peer.stratum >= MAXSTRAT:
        code = peer.ref_id.rstrip(b"\x00").decode("ascii", "replace") or "INIT"
        return f".{code}."
    return packet.refid_text(peer.ref_id, peer.stratum)


def ios_associations(peers: Sequence[PeerAssociation], now_s: float) -> str:
    lines = ["", IOS_ASSOC_HEADER]
    for p in peers:
        synced_data = p.received > 0
        stratum = p.stratum if synced_data else MAXSTRAT
        disp_ms = min(p.filter.dispersion_s, MAXDISP) * 1000.0
        if not synced_data:
            disp_ms = 15937.0  # what IOS prints for an empty filter
        lines.append(
            f"{p.tally}~{p.address:<15} {ios_refclock(p):<15}{stratum:>3d}"
            f"{ios_when(p.when_s(now_s)):>7}{max(1, round(p.poll_interval_s)):>7d}{p.reach:>6o}"
            f"{ios_number(p.filter.delay_s * 1000.0):>7}"
            f"{ios_number(p.filter.offset_s * 1000.0):>8}"
            f"{ios_number(disp_ms):>7}"
        )
    lines.append(IOS_ASSOC_LEGEND)
    return "\n".join(lines)


def _ntp_hex(unix_s: float) -> str:
    ts = from_unix_s(unix_s)
    return f"{ts >> 32:08X}.{ts & 0xFFFFFFFF:08X}"


def ios_clock_text(unix_s: float) -> str:
    """`15:55:11.982 UTC Sun Jan 29 2006`, the IOS clock format (UTC in the lab)."""
    t = time.gmtime(unix_s)
    ms = int((unix_s % 1) * 1000)
    return (
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{ms:03d} UTC "
        f"{time.strftime('%a %b', t)} {t.tm_mday} {t.tm_year}"
    )


def ios_syslog(message: str, unix_s: float, *, timestamps: bool, synced: bool) -> str:
    """A syslog line as `terminal monitor` shows it: `*Mar  1 00:01:02.123: %SYS-5-...`
    with `service timestamps log datetime msec` (`*`: clock not authoritative), or the
    bare `%SYS-5-...` with `no service timestamps log` (napalm-logs PR#243)."""
    if not timestamps:
        return message
    t = time.gmtime(unix_s)
    ms = int((unix_s % 1) * 1000)
    stamp = f"{time.strftime('%b', t)} {t.tm_mday:2d} {time.strftime('%H:%M:%S', t)}.{ms:03d}"
    return f"{'' if synced else '*'}{stamp}: {message}"


# IOS 15 `show ntp status`. Synchronised layout from the Cisco Networking Academy
# capture (R1, "Clock is synchronized, stratum 2, reference is 209.165.200.225" ...
# "system poll interval is 64, last update was 169 sec ago."); unsynchronised layout
# from genieparser tests (iosxe ShowNtpStatus golden_output_2, iosv-1: "Clock is
# unsynchronized, stratum 16, no reference clock") and the "never updated." ending
# from an IOS capture quoted in a public IOS simulator's fixtures.
def ios_status(status: SystemStatus, *, now_s: float, uptime_s: float) -> str:
    if status.synchronized and status.reference:
        first = f"Clock is synchronized, stratum {status.stratum}, reference is {status.reference}"
    else:
        first = "Clock is unsynchronized, stratum 16, no reference clock"
    if status.reference_time_s is not None:
        ref = f"{_ntp_hex(status.reference_time_s)} ({ios_clock_text(status.reference_time_s)})"
        last = f"last update was {int(max(0.0, now_s - status.reference_time_s))} sec ago."
    else:
        ref = "00000000.00000000 (00:00:00.000 UTC Mon Jan 1 1900)"
        last = "never updated."
    offset_ms = status.offset_s * 1000.0 if status.synchronized else 0.0
    return "\n".join(
        [
            first,
            "nominal freq is 250.0000 Hz, actual freq is 250.0000 Hz, precision is 2**18",
            f"ntp uptime is {int(uptime_s * 100)} (1/100 of seconds), resolution is 4000",
            f"reference time is {ref}",
            f"clock offset is {offset_ms:.4f} msec, root delay is "
            f"{status.root_delay_s * 1000.0:.2f} msec",
            f"root dispersion is {status.root_dispersion_s * 1000.0:.2f} msec, "
            f"peer dispersion is {status.peer_dispersion_s * 1000.0:.2f} msec",
            "loopfilter state is 'CTRL' (Normal Controlled Loop), drift is 0.000000000 s/s",
            f"system poll interval is {2**status.poll}, {last}",
        ]
    )


# --------------------------------------------------------------------------- CatOS


def catos_time(unix_s: float) -> str:
    """`Tue Jun 23 1998, 20:29:25`, the CatOS date format."""
    t = time.gmtime(unix_s)
    return time.strftime("%a %b %d %Y, %H:%M:%S", t)


# CatOS `show ntp`, as the Catalyst 6500 / 4000 CatOS command references print it
# ("Current time: Tue Jun 23 1998, 20:29:25", "Timezone: '', offset from UTC is 0 hours",
# "Summertime: '', disabled", "Last NTP update:", "Broadcast client mode: disabled",
# "Broadcast delay: 3000 microseconds", "Client mode: enabled", "Authentication:
# disabled", then the NTP-Server / Server Key table and the Key Number table). The
# defaults (client mode disabled, broadcast delay 3000 µs) are those of Table 35-1 "NTP
# Default Configuration", Catalyst 4000 CatOS 6.3/6.4 software guide. No machine-readable
# capture of this command was found in the public corpora searched (napalm, genieparser,
# ntc-templates have no CatOS NTP data; GitHub code holds no `show ntp` CatOS output; the
# stored copies of the CatOS "Configuring NTP" chapters and of Cisco tech note 14978-83,
# "NTP Sample Configuration for a High Availability Catalyst 6000 Switch", stop before
# their examples), so the layout follows the command-reference example; the CatOS parser
# tests (tests/parsing/test_catos.py) pin it.
def catos_show_ntp(
    *,
    now_s: float,
    last_update_s: float | None,
    client_enabled: bool,
    authentication: bool,
    servers: Sequence[tuple[str, int | None]],
    keys: Sequence[tuple[int, bool, str]],
) -> str:
    lines = [
        f"Current time: {catos_time(now_s)}",
        "Timezone: '', offset from UTC is 0 hours",
        "Summertime: '', disabled",
        f"Last NTP update: {catos_time(last_update_s) if last_update_s else ''}".rstrip(),
        "Broadcast client mode: disabled",
        "Broadcast delay: 3000 microseconds",
        f"Client mode: {'enabled' if client_enabled else 'disabled'}",
        f"Authentication: {'enabled' if authentication else 'disabled'}",
        "",
        "NTP-Server                               Server Key",
        "---------------------------------------- ----------",
    ]
    for address, key in servers:
        lines.append(f"{address:<40} {'' if key is None else key}".rstrip())
    lines += [
        "Key Number  Mode       Key String",
        "----------  ---------  --------------------------------",
    ]
    for number, trusted, digest in keys:
        mode = "trusted" if trusted else "untrusted"
        lines.append(f"{number:<10}  {mode:<9}  {digest}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- Windows

# `w32tm /query /status` (short form) and `/query /peers`, as captured on real hosts:
# Checkmk's w32time agent plugin documents both ("Leap Indicator: 3(not synchronized)",
# "Stratum: 0 (unspecified)", "Precision: -23 (119.209ns per tick)", "ReferenceId:
# 0x00000000 (unspecified)", "Last Successful Sync Time: unspecified", "Source: Local CMOS
# Clock", "Poll Interval: 10 (1024s)"; peers "#Peers: 2", "Peer: ...", "State: Active",
# "Time Remaining: 29.4847157s", "Mode: 3 (Client)", "Stratum: 3 (secondary reference -
# syncd by (S)NTP)", "PeerPoll Interval: ...", "HostPoll Interval: 6 (64s)"); a public
# capture shows the synced form "ReferenceId: 0x84A36102 (source IP:  132.163.97.2)"
# (two spaces), "Last Successful Sync Time: 5/30/2025 09:07:01", "Source:
# time.nist.gov,0x9"; pending peers print "State: Pending", "Mode: 0 (reserved)".


def w32_time(unix_s: float) -> str:
    """en-US short date and long time: `11/22/2026 3:14:15 AM`."""
    t = time.gmtime(unix_s)
    hour = t.tm_hour % 12 or 12
    ampm = "AM" if t.tm_hour < 12 else "PM"
    return f"{t.tm_mon}/{t.tm_mday}/{t.tm_year} {hour}:{t.tm_min:02d}:{t.tm_sec:02d} {ampm}"


def w32_stratum(stratum: int) -> str:
    if stratum == 0:
        return "0 (unspecified)"
    if stratum == 1:
        return "1 (primary reference - syncd by radio clock)"
    if stratum < 16:
        return f"{stratum} (secondary reference - syncd by (S)NTP)"
    return f"{stratum} (reserved)"


def w32_poll(exponent: int) -> str:
    if exponent <= 0:
        return "0 (unspecified)"
    if exponent > 15:
        return f"{exponent} (out of valid range)"
    return f"{exponent} ({2**exponent}s)"


def w32tm_status(
    *,
    status: SystemStatus,
    source: str | None,
    last_sync_s: float | None,
    poll: int,
    verbose: bool = False,
    now_s: float = 0.0,
) -> str:
    if status.synchronized and source and status.reference:
        ip = status.reference
        refid = packet.refid_for_address(ip).hex().upper()
        lines = [
            "Leap Indicator: 0(no warning)",
            f"Stratum: {w32_stratum(status.stratum)}",
            "Precision: -23 (119.209ns per tick)",
            f"Root Delay: {status.root_delay_s:.7f}s",
            f"Root Dispersion: {status.root_dispersion_s:.7f}s",
            f"ReferenceId: 0x{refid} (source IP:  {ip})",
            f"Last Successful Sync Time: {w32_time(last_sync_s) if last_sync_s else 'unspecified'}",
            f"Source: {source}",
            f"Poll Interval: {w32_poll(poll)}",
        ]
    else:
        lines = [
            "Leap Indicator: 3(not synchronized)",
            "Stratum: 0 (unspecified)",
            "Precision: -23 (119.209ns per tick)",
            "Root Delay: 0.0000000s",
            "Root Dispersion: 0.0000000s",
            "ReferenceId: 0x00000000 (unspecified)",
            f"Last Successful Sync Time: {w32_time(last_sync_s) if last_sync_s else 'unspecified'}",
            "Source: Local CMOS Clock",
            f"Poll Interval: {w32_poll(poll)}",
        ]
    if verbose:
        lines += _w32tm_verbose(status, synced=bool(status.synchronized and source), now_s=now_s)
    return "\n".join(lines) + "\n"


# The `/verbose` block, field names and values as in Checkmk's w32time plugin captures
# ("Phase Offset: 0.0000000s", "ClockRate: 0.0156250s", "State Machine: 0 (Unset)",
# "Time Source Flags: 0 (None)", "Server Role: 0 (None)", "Last Sync Error: 1 (The
# computer did not resync because no time data was available.)", "Time since Last Good
# Sync Time: 10.0402148s"). Phase Offset carries the measured offset of the reference
# relative to this host (NTP sign convention).
def _w32tm_verbose(status: SystemStatus, *, synced: bool, now_s: float) -> list[str]:
    since = 0.0 if status.reference_time_s is None else max(0.0, now_s - status.reference_time_s)
    return [
        "",
        f"Phase Offset: {status.offset_s if synced else 0.0:.7f}s",
        "ClockRate: 0.0156250s",
        "State Machine: 2 (Sync)" if synced else "State Machine: 0 (Unset)",
        "Time Source Flags: 0 (None)",
        "Server Role: 0 (None)",
        "Last Sync Error: 0 (The command completed successfully.)"
        if synced
        else "Last Sync Error: 1 (The computer did not resync because no time data was available.)",
        f"Time since Last Good Sync Time: {since:.7f}s",
    ]


def w32tm_peers(peers: Sequence[tuple[str, PeerAssociation | None, float]]) -> str:
    """(peer name with flags, association or None when it cannot be used, time remaining)."""
    lines = [f"#Peers: {len(peers)}", ""]
    for name, assoc, remaining in peers:
        active = assoc is not None and assoc.received > 0
        lines += [
            f"Peer: {name}",
            f"State: {'Active' if assoc is not None else 'Pending'}",
            f"Time Remaining: {max(0.0, remaining):.7f}s",
            "Mode: 3 (Client)" if assoc is not None else "Mode: 0 (reserved)",
            f"Stratum: {w32_stratum(assoc.stratum if active and assoc else 0)}",
            f"PeerPoll Interval: {w32_poll(assoc.hpoll if active and assoc else 0)}",
            f"HostPoll Interval: {w32_poll(assoc.hpoll if assoc else 0)}",
            "",
        ]
    return "\n".join(lines)
