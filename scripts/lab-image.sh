#!/usr/bin/env bash
# The Debian root that orch's lab boots (systemd-nspawn --boot) for its NTPsec and
# systemd-timesyncd hosts. Run as root by scripts/install.sh; safe to run again: a root
# whose stamp matches this script and the shim is kept as it is.
#
#   scripts/lab-image.sh [CACHE_DIR]      (default /var/cache/orch-lab, or $ORCH_LAB_CACHE)
#
# What it makes, in CACHE_DIR/root:
# - `debootstrap --variant=minbase` of this machine's Debian release, from the mirror apt
#   uses here, with systemd, dbus, systemd-timesyncd, openssh-server and sudo;
# - NTPsec unpacked from Debian's own package (`apt-get download ntpsec` + `dpkg -x` into
#   CACHE_DIR/ntpsec, then copied in:
#   the package conflicts with systemd-timesyncd, so it is not installed through dpkg),
#   with its user and directories and Debian's ntp.conf minus the pool lines;
# - chrony unpacked the same way, laid out as on RHEL (/etc/chrony.conf with no
#   sources.d, /etc/chrony.keys, unit chronyd.service), for the RHEL-style chrony host;
# - no daemon enabled: a generator starts the one /etc/orch-lab/daemon names;
# - nothing that reaches beyond loopback: no pools, no FallbackNTP, no resolver, no apt
#   timers;
# - the lab shim (orchestrator/lab/shim/orch_lab_shim.c) preloaded into every process:
#   the container has no CAP_SYS_TIME, the shim lets the daemons believe their clock
#   adjustments worked and moves their sockets to the host's own loopback address;
# - a user `orch` (password `orch-lab`) for the sudo cases.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${1:-${ORCH_LAB_CACHE:-/var/cache/orch-lab}}"
root="$cache/root"
shim_src="$here/orchestrator/lab/shim/orch_lab_shim.c"
stamp_name=".orch-lab-image"
stamp="$(cat "${BASH_SOURCE[0]}" "$shim_src" | sha256sum | cut -c1-16)"

if [ -f "$root/$stamp_name" ] && [ "$(cat "$root/$stamp_name")" = "$stamp" ]; then
    echo "lab-image.sh: $root is up to date"
    exit 0
fi

# The mirror apt uses on this machine (deb822 sources first, then sources.list).
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    mirror="$(awk '/^URIs:/ {print $2; exit}' "$f")"
    case "$mirror" in */debian) break ;; *) mirror="" ;; esac
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror="$(awk '$1 == "deb" && $2 !~ /^\[/ && $2 ~ /\/debian$/ {print $2; exit}' /etc/apt/sources.list)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"

started=$(date +%s)
mkdir -p "$cache"
new="$cache/root.new"
packages=systemd,systemd-sysv,systemd-timesyncd,dbus,openssh-server,sudo,python3-ntp,libbsd0
packages=$packages,libcap2,netbase,tzdata,procps
# A finished debootstrap of the same suite and packages is reused (a failed step below
# then costs seconds, not minutes); anything else starts from scratch.
bootstrapped="$suite $mirror $packages"
if [ "$(cat "$cache/root.new.debootstrap" 2>/dev/null)" != "$bootstrapped" ]; then
    rm -rf "$new" "$cache/root.new.debootstrap" "$cache/root.new.pristine"
    echo "lab-image.sh: debootstrap $suite from $mirror into $new (one to three minutes)"
    debootstrap --variant=minbase --include="$packages" "$suite" "$cache/root.new.pristine" \
        "$mirror" >"$cache/debootstrap.log" 2>&1 ||
        { tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
    echo "$bootstrapped" >"$cache/root.new.debootstrap"
fi
rm -rf "$new"
cp -a "$cache/root.new.pristine" "$new"

# NTPsec, unpacked rather than installed.
debs="$cache/debs"
mkdir -p "$debs"
(cd "$debs" && rm -f ntpsec_*.deb && apt-get download -q ntpsec >/dev/null 2>&1)
rm -rf "$cache/ntpsec"
dpkg -x "$debs"/ntpsec_*.deb "$cache/ntpsec"
# Into the root without replacing its merged-/usr symlinks (/lib -> usr/lib).
tar -C "$cache/ntpsec" -cf - . | tar -C "$new" --keep-directory-symlink -xf -
chroot "$new" useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin ntpsec
install -d -o 0 -g 0 "$new/var/lib/ntpsec"
chroot "$new" chown ntpsec:ntpsec /var/lib/ntpsec
install -d "$new/var/log/ntpsec"
sed -i -E 's/^(pool|server) /#&/' "$new/etc/ntpsec/ntp.conf"
# ntpd runs as root in the lab: it cannot keep CAP_SYS_TIME after `-u` (the container
# never has it), and as root it simply lacks it. IPv4 only (-4): the lab lives on 127/8.
install -d "$new/etc/systemd/system/ntpsec.service.d"
cat >"$new/etc/systemd/system/ntpsec.service.d/orch-lab.conf" <<'EOF'
# orch lab: no CAP_SYS_TIME in this container; the shim answers the clock calls.
[Unit]
ConditionCapability=
[Service]
ExecStart=
ExecStart=/usr/sbin/ntpd -4 -p /run/ntpd.pid -c /etc/ntpsec/ntp.conf -g -N
EOF

# chrony, RHEL's layout: /etc/chrony.conf as RHEL 9 ships it (its pool commented out),
# no /etc/chrony directory; chronyd -x never touches the clock.
(cd "$debs" && rm -f chrony_*.deb && apt-get download -q chrony >/dev/null 2>&1)
rm -rf "$cache/chrony"
dpkg -x "$debs"/chrony_*.deb "$cache/chrony"
rm -rf "$cache/chrony/etc/chrony"
tar -C "$cache/chrony" -cf - . | tar -C "$new" --keep-directory-symlink -xf -
chroot "$new" useradd --system --home-dir /var/lib/chrony --no-create-home \
    --shell /usr/sbin/nologin _chrony
cat >"$new/etc/chrony.conf" <<'EOF'
# Use public servers from the pool.ntp.org project.
# Please consider joining the pool (https://www.pool.ntp.org/join.html).
#pool 2.rhel.pool.ntp.org iburst

# Use NTP servers from DHCP.
sourcedir /run/chrony-dhcp

# Record the rate at which the system clock gains/losses time.
driftfile /var/lib/chrony/drift

# Allow the system clock to be stepped in the first three updates
# if its offset is larger than 1 second.
makestep 1.0 3

# Enable kernel synchronization of the real-time clock (RTC).
rtcsync

# Specify file containing keys for NTP authentication.
keyfile /etc/chrony.keys

# Save NTS keys and cookies.
ntsdumpdir /var/lib/chrony

# Get TAI-UTC offset and leap seconds from the system tz database.
leapsectz right/UTC

# Specify directory for log files.
logdir /var/log/chrony
EOF
install -m 0640 /dev/null "$new/etc/chrony.keys"
chroot "$new" chgrp _chrony /etc/chrony.keys
install -d "$new/etc/systemd/system/chrony.service.d"
cat >"$new/etc/systemd/system/chrony.service.d/orch-lab.conf" <<'EOF'
# orch lab: no CAP_SYS_TIME in this container; chronyd -x never adjusts the clock.
[Unit]
ConditionCapability=
[Service]
ExecStart=
ExecStart=!/usr/sbin/chronyd -x -f /etc/chrony.conf $DAEMON_OPTS
EOF

# systemd-timesyncd: runs in a container without CAP_SYS_TIME; no fallback servers.
install -d "$new/etc/systemd/system/systemd-timesyncd.service.d"
cat >"$new/etc/systemd/system/systemd-timesyncd.service.d/orch-lab.conf" <<'EOF'
# orch lab: no CAP_SYS_TIME in this container; the shim answers the clock calls.
[Unit]
ConditionVirtualization=
ConditionCapability=
[Service]
AmbientCapabilities=
CapabilityBoundingSet=
EOF
install -d "$new/usr/lib/systemd/timesyncd.conf.d"
printf '# orch lab: never the Debian pool.\n[Time]\nFallbackNTP=\n' \
    >"$new/usr/lib/systemd/timesyncd.conf.d/orch-lab.conf"
install -d "$new/etc/systemd/timesyncd.conf.d"

# Only the daemon the host is for runs.
rm -f "$new/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service"
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
    dpkg-db-backup.timer e2scrub_reap.service getty@tty1.service console-getty.service; do
    ln -sf /dev/null "$new/etc/systemd/system/$unit"
done
install -d "$new/etc/systemd/system-generators"
cat >"$new/etc/systemd/system-generators/orch-lab-daemon" <<'EOF'
#!/bin/sh
# orch lab: start the time daemon /etc/orch-lab/daemon names (ntpsec, timesyncd or
# chrony-rhel, whose unit is called chronyd.service as on RHEL).
daemon=$(cat /etc/orch-lab/daemon 2>/dev/null) || exit 0
case "$daemon" in
ntpsec) mkdir -p "$1/multi-user.target.wants"
    ln -sf /lib/systemd/system/ntpsec.service "$1/multi-user.target.wants/ntpsec.service" ;;
chrony-rhel) mkdir -p "$1/multi-user.target.wants"
    ln -sf /lib/systemd/system/chrony.service "$1/multi-user.target.wants/chrony.service"
    ln -sf /lib/systemd/system/chrony.service "$1/chronyd.service" ;;
timesyncd) mkdir -p "$1/sysinit.target.wants"
    ln -sf /lib/systemd/system/systemd-timesyncd.service \
        "$1/sysinit.target.wants/systemd-timesyncd.service" ;;
esac
EOF
chmod 0755 "$new/etc/systemd/system-generators/orch-lab-daemon"

# No resolver: a name lookup goes to 127.0.0.1:53, where nothing answers. IPv4 only:
# `localhost` is 127.0.0.1 alone, so `ntpq` asks ntpd there (the shim redirects it).
: >"$new/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\t\tip6-localhost ip6-loopback\n' >"$new/etc/hosts"
echo "orch-lab" >"$new/etc/hostname"

# The sudo user.
chroot "$new" useradd --create-home --shell /bin/bash orch
echo "orch:orch-lab" | chroot "$new" chpasswd
install -d "$new/etc/orch-lab"

# The shim, preloaded everywhere in the container.
gcc -shared -fPIC -O2 -Wall -o "$new/usr/local/lib/orch-lab-shim.so" "$shim_src" -ldl
echo /usr/local/lib/orch-lab-shim.so >"$new/etc/ld.so.preload"

echo "$stamp" >"$new/$stamp_name"
rm -rf "$root"
mv "$new" "$root"
# The pristine debootstrap stays for the next rebuild (when this script or the shim change).
echo "lab-image.sh: $root ready in $(($(date +%s) - started)) s, $(du -sh "$root" | cut -f1)"
