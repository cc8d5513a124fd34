"""Loopback fake servers for the outside world: SMTP (aiosmtpd) and Twilio's REST API (uvicorn)."""
