"""The team server: alert intake, incident rules, read API (and later sync and escalation)."""
