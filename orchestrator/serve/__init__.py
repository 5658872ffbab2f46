"""orchestrator.serve"""
