"""Tests of the queues: counts, filters, triage, the dashboard."""
