"""The background workers: fetching downloads and sending notifications, one job after another."""
