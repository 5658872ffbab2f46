"""orchestrator.inventory"""
