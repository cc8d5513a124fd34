"""Outgoing email: the port, the SMTP adapter and an in-memory fake."""
