"""The demo's content and the local stack that `make run` starts: see apps.py."""
