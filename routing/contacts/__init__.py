"""People, not addresses: contacts made from senders, linked, merged, exported and erased."""
