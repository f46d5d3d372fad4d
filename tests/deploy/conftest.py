from tests.docker_engine import docker_client  # noqa: F401 -- a fixture (test_image.py)
