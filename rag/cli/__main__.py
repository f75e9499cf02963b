"""`python -m rag.cli`."""

from rag.cli import run

run()
