"""Linux: chrony, ntpd (classic or NTPsec) or systemd-timesyncd, detected over SSH.

One strategy per daemon (chrony.py, ntpd.py, timesyncd.py) behind one interface
(strategy.py); driver.py detects which one a host runs and drives it. What orch writes:

* chrony: a file orch owns in the directory chrony.conf reads sources from
  (`sourcedir`, e.g. /etc/chrony/sources.d/orch.sources), then `chronyc reload sources`;
  without one, a `confdir`/`include` file or a marked block of chrony.conf and a restart.
  NTS servers also get the CA file and `ntstrustedcerts` (chrony.py), and a restart.
* ntpd / NTPsec: a marked block in ntp.conf, then a restart.
* systemd-timesyncd: /etc/systemd/timesyncd.conf.d/orch.conf, then a restart.

Commands run through sudo when the login user is not root (files.py).
"""

from orchestrator.drivers.linux.driver import DAEMON_HINT, STRATEGIES, LinuxDriver
from orchestrator.drivers.linux.strategy import PLATFORM

__all__ = ["DAEMON_HINT", "PLATFORM", "STRATEGIES", "LinuxDriver"]
