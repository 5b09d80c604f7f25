"""Tests of the background workers: downloads and notifications."""
