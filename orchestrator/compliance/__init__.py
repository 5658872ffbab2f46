"""orchestrator.compliance"""
