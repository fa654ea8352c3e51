"""Integration services: what comes in from another tool, and the outbox of what goes out to it."""
