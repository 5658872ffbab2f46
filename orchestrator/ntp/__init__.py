"""The sans-I/O NTP protocol core. Nothing here does I/O or reads a clock: time and
randomness are passed in.

    timestamps  era-aware 64-bit NTP timestamps <-> Unix ns/s, short format, fuzzing
    packet      NtpPacket codec (header, RFC 7822 extension fields, legacy MAC), KoD helpers
    onwire      offset and delay of one exchange (RFC 5905 §8)
    server      handle(client, rx_time, datagram, ...) -> Respond | Ignore
    access      CIDR allow/deny lists
    ratelimit   per-client token buckets with leak and KoD limiting (chrony's ratelimit)
    auth        keys files (chrony/ntpd format), MD5/SHA1 legacy MACs, AES-CMAC
    clientlog   per-client bookkeeping of the server, bounded
    nts         NTS extension fields (RFC 8915 §5): check a request, seal the reply
    nts_cookie  NTS cookies and the rotating server master keys
    nts_ke      NTS-KE records (RFC 8915 §4): negotiation and the server's answer
    client      the client state machine the lab's devices run
"""
