"""Tests of the rule conditions, one module per kind."""
