"""The console side of sync: wire schema, HTTP client, push/pull loop and the token store."""
