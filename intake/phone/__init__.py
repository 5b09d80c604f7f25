"""Twilio: the webhooks' forms as InboundMessages, the voice greeting, fetching recordings, a simulator."""
