"""Compliance: typed rules and a pure evaluator that decides from data, never fetches.

evaluate(host, state, client_log, now=...) -> DeviceVerdict
unknown_clients(inventory_hosts, client_log, now=...) -> clients not in the inventory
"""

from orchestrator.compliance.evaluator import evaluate, index_client_log, unknown_clients
from orchestrator.compliance.observe import normalise_address, reach_count
from orchestrator.compliance.rules import DEFAULT_MAX_POLL_AGE_S, RULES

__all__ = [
    "DEFAULT_MAX_POLL_AGE_S",
    "RULES",
    "evaluate",
    "index_client_log",
    "normalise_address",
    "reach_count",
    "unknown_clients",
]
