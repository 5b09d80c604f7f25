"""Tests of the `intake` command: serve, reload, the rule tools."""
