#!/usr/bin/env bash
# Install everything orch needs on Debian 12 (run as root), then optionally run `orch demo`.
#   scripts/install.sh          install only
#   scripts/install.sh --demo   install, then run `orch demo`
# Safe to run again: apt and pip skip what is already there; the venv is reused.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ORCH_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

# Debian packages, by what needs them. None of their services is started: policy-rc.d keeps
# Debian from starting (and enabling) chronyd, sshd, PostgreSQL or Prometheus on the host;
# orch's lab and tests run their own instances and must not fight system ones.
packages=(
    chrony openssh-server ntpsec-ntpdig iproute2 python3-venv sudo  # real clients, lab hosts
    systemd                         # systemd-analyze checks the units orch writes
    chromium                        # the HTML report's screenshot test
    prometheus                      # promtool checks orch's metrics
    postgresql                      # the multi-site tests start their own throw-away cluster
    gcc libc6-dev python3-dev       # the server's C packet loop (hatch_build.py), the lab shim
    debootstrap systemd-container   # the Debian root the NTPsec and timesyncd lab hosts boot
)
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    need=()
    for pkg in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
    done
    if [ "${#need[@]}" -gt 0 ]; then
        echo "install.sh: apt-get install ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT  # never left behind, even when apt fails
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
    # The Debian root of the NTPsec and timesyncd lab hosts, kept outside the clone
    # (ORCH_LAB_CACHE, default /var/cache/orch-lab) and rebuilt only when scripts/lab-image.sh
    # or the lab shim change: a few minutes the first time, a second after.
    "$here/scripts/lab-image.sh" || echo "install.sh: the lab's Debian root was not built;" \
        "the NTPsec and timesyncd lab hosts will say what is missing"
else
    echo "install.sh: not root or no apt-get: skipping Debian packages (${packages[*]});"
    echo "            the lab will run its simulated devices only, the server its Python loop."
fi

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
