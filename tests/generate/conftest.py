"""The generation tests use the llama.cpp server fixtures of tests/conftest.py."""

from tests.support.llama import MODEL, free_port, start_server, wait_ready

__all__ = ["MODEL", "free_port", "start_server", "wait_ready"]
