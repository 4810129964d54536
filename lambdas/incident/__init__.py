"""Incident events to EventBridge."""
