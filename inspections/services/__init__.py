"""Inspection verbs: production logs in, schedules and their runs, alerts out."""
