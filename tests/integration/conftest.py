from tests.hub_stack import hub  # noqa: F401 -- the session-wide real stack
