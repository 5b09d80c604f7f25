"""Condition kinds for routing rules: one small named object per module."""
