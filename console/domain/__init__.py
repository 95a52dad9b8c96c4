"""Pure incident-response rules: standard library only, no I/O, time and ids injected."""
