"""Tests of the Twilio side: messages, voicemail, fetching, end to end."""
