"""orchestrator.lab"""
