"""Helpers shared by the tests: real servers on loopback, signed-in clients, literal messages."""
