"""Tests of routing/: the engine, conversations, deliver(), the learned suggestion."""
