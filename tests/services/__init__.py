"""Tests of the outside-world adapters against loopback servers."""
