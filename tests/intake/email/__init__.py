"""Tests of email in: parsing, SMTP, IMAP, import, a real-world corpus."""
