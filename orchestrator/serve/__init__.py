"""The I/O shell around orchestrator.ntp: sockets, workers, reference tracking, client log.

from orchestrator.serve import NtpServerRunner, ServerConfig
with NtpServerRunner(ServerConfig(port=0, reference="local")) as server:
    host, port = server.addresses[0]
"""

from orchestrator.serve.config import ServerConfig
from orchestrator.serve.runner import NtpServerRunner

__all__ = ["NtpServerRunner", "ServerConfig"]
