"""Run history: every `orch verify` run in SQLite, with retention and time/site queries."""

from orchestrator.store.history import DAY_S, HistoryStore, evidence_of
from orchestrator.store.records import StoredDevice, StoredRun
from orchestrator.store.redact import host_secrets, redact_state, redact_text

__all__ = [
    "DAY_S",
    "HistoryStore",
    "StoredDevice",
    "StoredRun",
    "evidence_of",
    "host_secrets",
    "redact_state",
    "redact_text",
]
