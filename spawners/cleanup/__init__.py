"""Cleanup's engine backends: list what carries this hub's labels on the Docker engine or in
Kubernetes, and remove what they are given. No Django: the portal's cleanup service
(portal/cleanup/service.py) decides what is orphaned or expired and calls them."""
