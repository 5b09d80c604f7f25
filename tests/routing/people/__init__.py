"""Tests of people and their access."""
