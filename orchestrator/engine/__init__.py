"""orchestrator.engine"""
