"""Tests of the config file, section by section."""
