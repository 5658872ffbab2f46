"""orchestrator.store"""
