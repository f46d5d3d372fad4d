"""Real identity providers, run as child processes, that the login tests talk to."""
