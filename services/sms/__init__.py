"""SMS and voice calls: the port, the Twilio adapter and an in-memory fake."""
