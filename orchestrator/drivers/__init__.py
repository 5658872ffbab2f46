"""orchestrator.drivers"""
