"""The development outbox: email and SMS adapters that keep messages instead of sending them."""
