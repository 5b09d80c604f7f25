"""Tests of the database: schema, connections, mailbox positions."""
