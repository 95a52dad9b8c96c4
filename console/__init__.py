"""Responder Console: offline-first incident response."""
