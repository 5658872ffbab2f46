"""orchestrator.reports"""
