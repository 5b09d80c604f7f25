"""The queues: reading them, their filters, what people do to items, the dashboard's figures."""
