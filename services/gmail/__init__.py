"""Gmail: the port, the google-api-python-client adapter, Pub/Sub push decoding/verification and a fake."""
