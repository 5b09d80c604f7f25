"""Email in: parsing real mail, the SMTP and submission listeners, IMAP polling, mbox and maildir import."""
