"""orchestrator.parsing"""
