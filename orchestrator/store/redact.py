"""Redaction lives in orchestrator.redact (one set of rules for every layer)."""

from orchestrator.redact import MASK, host_secrets, redact_state, redact_text

__all__ = ["MASK", "host_secrets", "redact_state", "redact_text"]
