"""The `intake` command: its subcommands, and the wiring of a process (the one place that reaches up to the web)."""
