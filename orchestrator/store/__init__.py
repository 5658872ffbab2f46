"""Run history: every `orch verify` run, in SQLite (default) or PostgreSQL (by URL),
with retention, time/site queries and per-site summaries."""

from orchestrator.store.engine import StoreCorrupted, StoreError, StoreWriteError
from orchestrator.store.history import DAY_S, HistoryStore, evidence_of, unsaved_run
from orchestrator.store.records import StoredDevice, StoredRun
from orchestrator.store.redact import host_secrets, redact_state, redact_text
from orchestrator.store.sites import SiteSummary, combine_latest
from orchestrator.store.target import StoreTarget, resolve_target

__all__ = [
    "DAY_S",
    "HistoryStore",
    "SiteSummary",
    "StoreCorrupted",
    "StoreError",
    "StoreTarget",
    "StoreWriteError",
    "StoredDevice",
    "StoredRun",
    "combine_latest",
    "evidence_of",
    "host_secrets",
    "redact_state",
    "redact_text",
    "resolve_target",
    "unsaved_run",
]
