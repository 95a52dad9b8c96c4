"""The console's local replica of the server's incidents, its outbox of ops, and its sync state."""
