"""What a channel stores beside deliver(): voicemail items made from callbacks, hand-taken details."""
