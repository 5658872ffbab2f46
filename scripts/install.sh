#!/usr/bin/env bash
# Install everything orch needs on Debian 12 (run as root), then optionally run `orch demo`.
#   scripts/install.sh          install only
#   scripts/install.sh --demo   install, then run `orch demo`
# Safe to run again: apt and pip skip what is already there; the venv is reused.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ORCH_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    need=()
    # systemd: systemd-analyze, which checks the units `orch server install-unit` writes
    for pkg in chrony openssh-server ntpsec-ntpdig iproute2 python3-venv chromium sudo systemd; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
    done
    if [ "${#need[@]}" -gt 0 ]; then
        echo "install.sh: apt-get install ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # policy-rc.d keeps Debian from starting (and enabling) chronyd/sshd on the host:
        # orch's lab runs its own instances, and must not fight a system chronyd.
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
        rm -f /usr/sbin/policy-rc.d
    fi
    # promtool (Debian `prometheus`) checks orch's metrics in the tests. A block of its own:
    # the prometheus service must never start here either (the same policy-rc.d trick).
    if ! command -v promtool >/dev/null 2>&1; then
        echo "install.sh: apt-get install prometheus (for promtool)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        apt-get install -y -qq --no-install-recommends prometheus >/dev/null
        rm -f /usr/sbin/policy-rc.d
    fi
else
    echo "install.sh: not root or no apt-get: skipping Debian packages (chrony, openssh-server, ntpsec-ntpdig);"
    echo "            the lab will run its simulated devices only."
fi

# PostgreSQL, for the shared multi-site history: the tests (tests/store) and the benchmark
# start their own throw-away cluster with initdb + pg_ctl in a temporary directory, on
# loopback, as an unprivileged user. No system service: policy-rc.d keeps Debian from
# starting the packaged cluster. Kept apart from the list above, so either can change alone.
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    if ! dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q "install ok installed"; then
        echo "install.sh: apt-get install postgresql (server binaries for the history tests)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        apt-get install -y -qq --no-install-recommends postgresql >/dev/null
        rm -f /usr/sbin/policy-rc.d
    fi
fi

# --- the server's C packet loop (orchestrator/serve/_fastpath.c, issue 14) ---------------
# hatch_build.py compiles it during `pip install`; it needs a C compiler and the Python
# headers. Without them the install still works and the server uses its Python loop.
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    cneed=()
    for pkg in gcc libc6-dev python3-dev; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || cneed+=("$pkg")
    done
    if [ "${#cneed[@]}" -gt 0 ]; then
        echo "install.sh: apt-get install ${cneed[*]} (to build the server's C packet loop)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${cneed[@]}" >/dev/null
    fi
fi
# --- end of the C packet loop block ----------------------------------------------------

# ---- real Linux lab hosts: NTPsec and systemd-timesyncd under systemd (issue 13) ----
# debootstrap builds the Debian root they boot, systemd-nspawn boots it, gcc builds the
# lab shim. The root is kept outside the clone (ORCH_LAB_CACHE, default
# /var/cache/orch-lab, about 320 MB) and rebuilt only when scripts/lab-image.sh or the
# shim change: about 3 minutes the first time, a second after.
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    lab_need=()
    for pkg in debootstrap systemd-container gcc libc6-dev; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || lab_need+=("$pkg")
    done
    if [ "${#lab_need[@]}" -gt 0 ]; then
        echo "install.sh: apt-get install ${lab_need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        apt-get install -y -qq --no-install-recommends "${lab_need[@]}" >/dev/null
        rm -f /usr/sbin/policy-rc.d
    fi
    "$here/scripts/lab-image.sh" || echo "install.sh: the lab's Debian root was not built;" \
        "the NTPsec and timesyncd lab hosts will say what is missing"
fi
# ---- end of the Linux lab hosts block ----

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# Some machines' pip.conf names find-links folders that do not exist; pip warns once per
# package about them. Keep real warnings and errors, drop that noise.
quiet_pip() { "$venv/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }
quiet_pip install -q --upgrade pip >/dev/null
quiet_pip install -q -e "$here[test]"
"$venv/bin/python" -c "from orchestrator.serve import fastpath; print('install.sh: server packet loop:', fastpath.describe())"
echo "install.sh: orch installed in $venv (activate with: . $venv/bin/activate)"

if [ "${1:-}" = "--demo" ]; then
    exec "$venv/bin/orch" demo
fi
