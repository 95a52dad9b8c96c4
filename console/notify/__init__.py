"""Desktop alerting: the alert policy (what, how loud, how often) and its delivery backends
(freedesktop notifications over D-Bus, the alert sounds). Nothing here imports QtWidgets except a
tray adapter, nor the store (DESIGN.md §3)."""
