"""The production pieces in deploy/hub, run for real: nginx in front of a test stack."""
