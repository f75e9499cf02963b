"""Retrieval evaluation: BEIR datasets, IR metrics, reports (`rag eval beir DIR`)."""
