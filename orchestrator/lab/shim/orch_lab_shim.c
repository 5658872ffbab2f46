/*
 * orch lab shim: preloaded (/etc/ld.so.preload) into every process of an orch lab
 * container (systemd-timesyncd, NTPsec ntpd, timedated, ...).
 *
 * 1. The clock. The container has no CAP_SYS_TIME, so the kernel would refuse every
 *    change to this machine's clock anyway (and must: the lab never touches it). Real
 *    time daemons treat that refusal as an error and never report "synchronised", so
 *    the clock-changing calls are answered here instead: they succeed without a system
 *    call, and what they set (status, offset, frequency, error estimates) is kept in a
 *    small state file, which every read of the kernel clock state (adjtimex with no
 *    modes, as timedated does) sees overlaid on the real kernel values. The machine's
 *    clock and its kernel PLL are never written.
 *
 * 2. Addresses. All lab hosts share the machine's network namespace, one loopback
 *    address each (127.0.2.x, in /etc/orch-lab/bind-address). To every process in the
 *    container that address is the host's loopback address, the way 127.0.0.1 is on a
 *    real machine:
 *    - getifaddrs() lists it in place of 127.0.0.1, so ntpd binds it and treats packets
 *      from 127.0.0.1 (our NTP server in the lab) as coming from another machine;
 *    - a bind to 127.0.0.1 goes to it, a bind to the wildcard too (on an ephemeral port:
 *      ntpd's wildcard socket only drops what reaches it), so what a daemon sends comes
 *      from the host's own address, like chrony's `bindacqaddress`;
 *    - getsockname() reports it where the kernel chose 127.0.0.1 as the source (ntpd asks
 *      that to pick the interface it sends from);
 *    - a socket that connects to a loopback address unbound (chronyd's NTP client
 *      sockets) is bound to it first;
 *    - `ntpq`'s UDP connect to 127.0.0.1:123 (asking the local ntpd) goes to it.
 *    IPv6 and non-loopback binds are refused (EADDRNOTAVAIL): no lab daemon listens
 *    beyond loopback.
 *
 * Built by scripts/install.sh: gcc -shared -fPIC -O2 -o orch-lab-shim.so orch_lab_shim.c -ldl
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

/* Where the pretended clock state lives: the first directory the caller may write.
 * systemd-timesyncd runs with ProtectSystem=strict and may only write its runtime
 * directory; everyone else reads from the same places in the same order. */
static const char *const STATE_FILES[] = {
    "/run/systemd/timesync/orch-lab-adjtimex",
    "/run/orch-lab-adjtimex",
};
#define N_STATE_FILES (sizeof STATE_FILES / sizeof STATE_FILES[0])

struct state {
    int status;
    long offset, freq, maxerror, esterror, constant;
};

static int load_state(struct state *st)
{
    for (size_t i = 0; i < N_STATE_FILES; i++) {
        int fd = open(STATE_FILES[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, st, sizeof *st);
        close(fd);
        if (n == (ssize_t)sizeof *st)
            return 1;
    }
    return 0;
}

static void save_state(const struct state *st)
{
    for (size_t i = 0; i < N_STATE_FILES; i++) {
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%s.%d", STATE_FILES[i], (int)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            continue;
        ssize_t n = write(fd, st, sizeof *st);
        close(fd);
        if (n == (ssize_t)sizeof *st && rename(tmp, STATE_FILES[i]) == 0)
            return;
        unlink(tmp);
    }
}

/* The real kernel state, read only (modes 0 needs no privilege and changes nothing).
 * systemd-nspawn's seccomp filter refuses even that in a container without CAP_SYS_TIME;
 * then the state is an unsynchronised clock with the current time. */
static void kernel_read(clockid_t clock, struct timex *tx)
{
    memset(tx, 0, sizeof *tx);
    if (syscall(SYS_clock_adjtime, clock, tx) >= 0)
        return;
    memset(tx, 0, sizeof *tx);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    tx->time.tv_sec = now.tv_sec;
    tx->time.tv_usec = now.tv_nsec / 1000;
    tx->status = STA_UNSYNC;
    tx->maxerror = 16000000;
    tx->esterror = 16000000;
    tx->constant = 2;
    tx->precision = 1;
    tx->tolerance = 32768000;
    tx->tick = 10000;
}

static int pretend_adjtime(clockid_t clock, struct timex *tx)
{
    unsigned int modes = tx->modes;
    int read_only = modes == 0 || modes == ADJ_OFFSET_SS_READ;
    struct state st;
    int have = load_state(&st);
    struct timex real;
    kernel_read(clock, &real);
    if (!have) {
        st.status = real.status;
        st.offset = real.offset;
        st.freq = real.freq;
        st.maxerror = real.maxerror;
        st.esterror = real.esterror;
        st.constant = real.constant;
    }
    if (!read_only) {
        if (modes & ADJ_STATUS)
            st.status = (st.status & ~0xff) | (tx->status & 0xff);
        if ((modes & ADJ_OFFSET) && (modes & ADJ_OFFSET_SINGLESHOT) != ADJ_OFFSET_SINGLESHOT)
            st.offset = tx->offset;
        if (modes & ADJ_FREQUENCY)
            st.freq = tx->freq;
        if (modes & ADJ_MAXERROR)
            st.maxerror = tx->maxerror;
        if (modes & ADJ_ESTERROR)
            st.esterror = tx->esterror;
        if (modes & ADJ_TIMECONST)
            st.constant = tx->constant;
        save_state(&st);
        have = 1;
    }
    *tx = real;
    if (have) {
        tx->status = (real.status & ~0xff) | (st.status & 0xff);
        tx->offset = st.offset;
        tx->freq = st.freq;
        tx->maxerror = st.maxerror;
        tx->esterror = st.esterror;
        tx->constant = st.constant;
    }
    return (tx->status & STA_UNSYNC) ? TIME_ERROR : TIME_OK;
}

int clock_adjtime(clockid_t clock, struct timex *tx) { return pretend_adjtime(clock, tx); }
int adjtimex(struct timex *tx) { return pretend_adjtime(CLOCK_REALTIME, tx); }
int ntp_adjtime(struct timex *tx) { return pretend_adjtime(CLOCK_REALTIME, tx); }
int __adjtimex(struct timex *tx) { return pretend_adjtime(CLOCK_REALTIME, tx); }

int adjtime(const struct timeval *delta, struct timeval *olddelta)
{
    (void)delta;
    if (olddelta) {
        olddelta->tv_sec = 0;
        olddelta->tv_usec = 0;
    }
    return 0;
}

int settimeofday(const struct timeval *tv, const struct timezone *tz)
{
    (void)tv;
    (void)tz;
    return 0;
}

int clock_settime(clockid_t clock, const struct timespec *ts)
{
    (void)ts;
    if (clock == CLOCK_REALTIME)
        return 0;
    errno = EINVAL;
    return -1;
}

/* ------------------------------------------------------------------ binding */

static int bind_address_loaded;
static struct in_addr bind_address; /* s_addr 0: not configured, leave binds alone */

static void load_bind_address(void)
{
    if (bind_address_loaded)
        return;
    bind_address_loaded = 1;
    char text[64] = {0};
    int fd = open("/etc/orch-lab/bind-address", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return;
    text[strcspn(text, " \t\r\n")] = 0;
    struct in_addr a;
    if (inet_pton(AF_INET, text, &a) == 1)
        bind_address = a;
}

static int own_address(const struct sockaddr *addr, socklen_t len, struct sockaddr_in *out)
{
    load_bind_address();
    if (!bind_address.s_addr || !addr || addr->sa_family != AF_INET ||
        len < (socklen_t)sizeof(struct sockaddr_in))
        return 0;
    memcpy(out, addr, sizeof *out);
    return 1;
}

int getifaddrs(struct ifaddrs **list)
{
    static int (*real_getifaddrs)(struct ifaddrs **);
    if (!real_getifaddrs)
        real_getifaddrs = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
    int rc = real_getifaddrs(list);
    load_bind_address();
    if (rc != 0 || !bind_address.s_addr)
        return rc;
    for (struct ifaddrs *ifa = *list; ifa; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)ifa->ifa_addr;
            if (ntohl(in->sin_addr.s_addr) == INADDR_LOOPBACK)
                in->sin_addr = bind_address;
        }
    }
    return rc;
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    static int (*real_getsockname)(int, struct sockaddr *, socklen_t *);
    if (!real_getsockname)
        real_getsockname =
            (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "getsockname");
    int rc = real_getsockname(fd, addr, len);
    load_bind_address();
    if (rc == 0 && bind_address.s_addr && addr && addr->sa_family == AF_INET &&
        *len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in *in = (struct sockaddr_in *)addr;
        if (ntohl(in->sin_addr.s_addr) == INADDR_LOOPBACK)
            in->sin_addr = bind_address;
    }
    return rc;
}

static int is_ntpq(void)
{
    char comm[32] = {0};
    int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, comm, sizeof comm - 1);
    close(fd);
    return n > 0 && strncmp(comm, "ntpq\n", 5) == 0;
}

static int (*real_bind_fn(void))(int, const struct sockaddr *, socklen_t)
{
    static int (*real_bind)(int, const struct sockaddr *, socklen_t);
    if (!real_bind)
        real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
    return real_bind;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    static int (*real_connect)(int, const struct sockaddr *, socklen_t);
    if (!real_connect)
        real_connect =
            (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    struct sockaddr_in in;
    if (!own_address(addr, len, &in))
        return real_connect(fd, addr, len);
    int type = 0;
    socklen_t type_len = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len);
    if (is_ntpq()) {
        /* `ntpq` asks the local ntpd, which listens on the host's address; its own
         * source stays 127.0.0.1, which ntp.conf's `restrict 127.0.0.1` lets query. */
        if (type == SOCK_DGRAM && ntohl(in.sin_addr.s_addr) == INADDR_LOOPBACK &&
            ntohs(in.sin_port) == 123) {
            in.sin_addr = bind_address;
            return real_connect(fd, (const struct sockaddr *)&in, sizeof in);
        }
        return real_connect(fd, addr, len);
    }
    /* A client that connects without binding first (chronyd's NTP sockets) would send
     * from 127.0.0.1: bind it to the host's address first. */
    struct sockaddr_in local;
    socklen_t local_len = sizeof local;
    if ((ntohl(in.sin_addr.s_addr) >> 24) == 127 &&
        syscall(SYS_getsockname, fd, &local, &local_len) == 0 && local.sin_family == AF_INET &&
        local.sin_port == 0 && local.sin_addr.s_addr == 0) {
        struct sockaddr_in self = {0};
        self.sin_family = AF_INET;
        self.sin_addr = bind_address;
        real_bind_fn()(fd, (const struct sockaddr *)&self, sizeof self);
    }
    return real_connect(fd, addr, len);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    int (*real_bind)(int, const struct sockaddr *, socklen_t) = real_bind_fn();
    load_bind_address();
    if (bind_address.s_addr && addr) {
        if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
            struct sockaddr_in in;
            memcpy(&in, addr, sizeof in);
            uint32_t a = ntohl(in.sin_addr.s_addr);
            if (a == INADDR_ANY || a == INADDR_LOOPBACK) {
                in.sin_addr = bind_address;
                /* ntpd binds both the wildcard (to drop what arrives there) and 127.0.0.1
                 * on port 123: both would land on the host's address:123 and the replies
                 * on the dropping socket. The wildcard gets a port of its own instead. */
                if (a == INADDR_ANY)
                    in.sin_port = 0;
                return real_bind(fd, (const struct sockaddr *)&in, sizeof in);
            }
            if ((a >> 24) != 127) {
                errno = EADDRNOTAVAIL;
                return -1;
            }
        } else if (addr->sa_family == AF_INET6) {
            errno = EADDRNOTAVAIL;
            return -1;
        }
    }
    return real_bind(fd, addr, len);
}
