"""UDP sockets for the server: SO_REUSEPORT, kernel receive timestamps, reply-from-address.

Each socket is bound with SO_REUSEPORT so one socket per worker shares the port
and the kernel spreads clients over the workers. SO_TIMESTAMPING (software RX)
gives the kernel's receive time of every datagram (CLOCK_REALTIME, ns); the same
option lets a worker ask, per packet, for the kernel's *transmit* timestamp of a
reply (read back from the error queue), which is how it learns how long a reply
takes from the transmit timestamp read to the wire (see worker.TxDelay). Where
SO_TIMESTAMPING is refused, SO_TIMESTAMPNS gives RX times alone. When bound to a
wildcard address, IP_PKTINFO / IPV6_RECVPKTINFO tell which local address a
request was sent to, and the reply is sent from that address (RFC 9109 / what
chrony does) so multi-homed hosts answer from the address clients expect.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from dataclasses import dataclass

from orchestrator.errors import ServerError

# Linux values; Python 3.11 does not export these.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_TIMESTAMPING = getattr(socket, "SO_TIMESTAMPING", 37)
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
# <linux/net_tstamp.h>
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11  # error queue entries carry the timestamp, not the packet
# Ask for the kernel TX timestamp of one outgoing packet (a sendmsg cmsg, Linux >= 4.13).
TX_TIMESTAMP_CMSG = (
    socket.SOL_SOCKET,
    SO_TIMESTAMPING,
    struct.pack("@I", SOF_TIMESTAMPING_TX_SOFTWARE),
)

TIMESPEC = struct.Struct("@qq")
_IN_PKTINFO = struct.Struct("@i4s4s")  # ifindex, spec_dst, addr
_IN6_PKTINFO = struct.Struct("@16sI")  # addr, ifindex
ANC_BUFSIZE = socket.CMSG_SPACE(3 * TIMESPEC.size) + socket.CMSG_SPACE(_IN6_PKTINFO.size) + 64
RECV_BUFSIZE = 1024  # NTP packets with EFs and a MAC stay far below this


@dataclass
class ServerSocket:
    """One bound UDP socket and how to answer on it."""

    sock: socket.socket
    family: int
    wildcard: bool  # bound to 0.0.0.0 / :: : replies need the request's destination address
    tx_timestamps: bool = False  # SO_TIMESTAMPING on: per-packet kernel TX timestamps work

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def close(self) -> None:
        self.sock.close()


def _bind_error(exc: OSError, host: str, port: int) -> ServerError:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EACCES:
        return ServerError(
            f"cannot listen on {where}: permission denied",
            hint="ports below 1024 need root or CAP_NET_BIND_SERVICE; run as root or use --port",
        )
    if exc.errno == errno.EADDRINUSE:
        return ServerError(
            f"cannot listen on {where}: the port is already in use",
            hint="another NTP server (chronyd, ntpd) probably owns it: stop it or use --port",
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return ServerError(
            f"cannot listen on {where}: no such address on this host",
            hint="use an address of this host, 0.0.0.0 or ::",
        )
    return ServerError(f"cannot listen on {where}: {exc.strerror or exc}")


DEFAULT_RCVBUF = 4 << 20


def open_socket(
    host: str, port: int, rcvbuf: int = DEFAULT_RCVBUF, *, exclusive: bool = False
) -> ServerSocket:
    """Bind a non-blocking UDP socket with SO_REUSEPORT and receive timestamps.

    `rcvbuf` asks for a receive queue of that many bytes (the kernel caps it at
    net.core.rmem_max); 0 keeps the kernel default. `exclusive` (for the first socket
    of a server) fails when anyone already listens there: SO_REUSEPORT alone would
    let a second `orch server run` join the first one's group and take half its clients.
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ServerError(f"--listen {host!r} is not an IP address") from None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    wildcard = ip.is_unspecified
    if exclusive and port != 0:
        _check_port_free(family, host, port)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        tx_timestamps = _enable_timestamping(sock)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if wildcard:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        elif wildcard:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        if rcvbuf > 0:  # a deeper queue rides out bursts and scheduling stalls
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise _bind_error(exc, host, port) from None
    sock.setblocking(False)
    return ServerSocket(sock, family, wildcard, tx_timestamps)


def _check_port_free(family: socket.AddressFamily, host: str, port: int) -> None:
    """A probe bind without SO_REUSEPORT fails if any socket (ours or not) holds the port."""
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind((host, port))
        except OSError as exc:
            raise _bind_error(exc, host, port) from None


def _enable_timestamping(sock: socket.socket) -> bool:
    """Kernel RX timestamps (and TX on request); True if TX timestamps are available."""
    flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_TSONLY
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, flags)
        return True
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        return False


def read_tx_timestamp(sock: socket.socket) -> int | None:
    """The kernel TX timestamp (Unix ns) of the last packet sent with TX_TIMESTAMP_CMSG.

    On loopback and most drivers the timestamp is queued while sendmsg runs, so it is
    there right after; entries are drained so the socket does not stay readable.
    """
    found: int | None = None
    while True:
        try:
            _, anc, _flags, _ = sock.recvmsg(
                0, ANC_BUFSIZE, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
            )
        except (BlockingIOError, InterruptedError):
            return found
        except OSError:
            return found
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING and len(data) >= 16:
                sec, nsec = TIMESPEC.unpack_from(data)
                if sec or nsec:
                    found = sec * 1_000_000_000 + nsec


def parse_ancillary(
    ancdata: list[tuple[int, int, bytes]],
) -> tuple[int | None, list[tuple[int, int, bytes]] | None]:
    """(kernel RX time in Unix ns or None, the cmsg to send the reply from the same address)."""
    rx_ns: int | None = None
    reply_cmsg: list[tuple[int, int, bytes]] | None = None
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind in (SO_TIMESTAMPNS, SO_TIMESTAMPING):
            sec, nsec = TIMESPEC.unpack_from(data)  # SCM_TIMESTAMPING: software ts first
            rx_ns = sec * 1_000_000_000 + nsec
        elif level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            _ifindex, _spec_dst, dst = _IN_PKTINFO.unpack_from(data)
            reply_cmsg = [(socket.IPPROTO_IP, IP_PKTINFO, _IN_PKTINFO.pack(0, dst, bytes(4)))]
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            dst6, ifindex = _IN6_PKTINFO.unpack_from(data)
            # keep the interface: link-local destinations need it
            reply_cmsg = [
                (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, _IN6_PKTINFO.pack(dst6, ifindex))
            ]
    return rx_ns, reply_cmsg


def client_address(addr: tuple[str, int] | tuple[str, int, int, int]) -> str:
    """The client's address as the client log and access lists key it (no v4-mapped form)."""
    host = addr[0]
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host


# ---------------------------------------------------------------------- worker steering
SO_ATTACH_REUSEPORT_CBPF = 51  # <asm-generic/socket.h>, Linux >= 4.5
_SKF_NET_OFF = -0x100000  # <linux/filter.h>: offsets from the network header
_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_TAX = 0x07 | 0x00  # BPF_MISC | BPF_TAX
_XOR_X = 0x04 | 0xA0 | 0x08  # BPF_ALU | BPF_XOR | BPF_X
_MUL_K = 0x04 | 0x20  # BPF_ALU | BPF_MUL | BPF_K
_RSH_K = 0x04 | 0x70  # BPF_ALU | BPF_RSH | BPF_K
_MOD_K = 0x04 | 0x90  # BPF_ALU | BPF_MOD | BPF_K
_RET_A = 0x06 | 0x10  # BPF_RET | BPF_A


def source_hash_program(family: int, workers: int) -> list[tuple[int, int, int, int]]:
    """A classic BPF program choosing a reuseport socket by the source address alone.

    The kernel's default spreads by the 4-tuple, so one client changing its source
    port lands on other workers, each with its own rate-limit bucket. This program
    hashes only the source address (IPv4: one word; IPv6: the four words xor-ed),
    multiplies by Knuth's constant and takes it modulo the number of workers: the
    index of the socket in the group, i.e. the order in which they were bound.
    """
    words = (12,) if family == socket.AF_INET else (8, 12, 16, 20)
    prog = [(_LD_W_ABS, 0, 0, _SKF_NET_OFF + words[0])]
    for off in words[1:]:
        prog += [(_TAX, 0, 0, 0), (_LD_W_ABS, 0, 0, _SKF_NET_OFF + off), (_XOR_X, 0, 0, 0)]
    prog += [
        (_MUL_K, 0, 0, 2654435761),
        (_RSH_K, 0, 0, 16),
        (_MOD_K, 0, 0, workers),
        (_RET_A, 0, 0, 0),
    ]
    return prog


def steer_by_source(group: ServerSocket, workers: int) -> bool:
    """Attach source_hash_program to the reuseport group of `group` (all its sockets bound).

    False when the kernel refuses it (then it spreads by the 4-tuple, as before)."""
    import ctypes

    class SockFilter(ctypes.Structure):
        _fields_ = (
            ("code", ctypes.c_uint16),
            ("jt", ctypes.c_uint8),
            ("jf", ctypes.c_uint8),
            ("k", ctypes.c_uint32),
        )

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter)))

    prog = source_hash_program(group.family, workers)
    insns = (SockFilter * len(prog))(*(SockFilter(c, t, f, k & 0xFFFFFFFF) for c, t, f, k in prog))
    fprog = SockFprog(len(prog), insns)
    try:  # the kernel copies the program during the call; `insns` outlives it
        group.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(fprog))
    except OSError:
        return False
    return True
