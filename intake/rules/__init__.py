"""The config's rules tried on real messages: the rule fixtures, and replaying stored items."""
