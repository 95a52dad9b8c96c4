"""The window: PySide6 widgets and Qt models over what app.py hands in (never the store or the network)."""
