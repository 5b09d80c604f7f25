"""Tests of messages taken by hand, as an adapter."""
