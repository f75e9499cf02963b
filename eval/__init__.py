"""Retrieval evaluation reports (BEIR) — built in the retrieval issue."""
