"""Tests of intake/, one folder per channel."""
