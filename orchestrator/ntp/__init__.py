"""orchestrator.ntp"""
