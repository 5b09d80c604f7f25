"""Tests of the web: pages, API, access, browser tests."""
