"""REST question-answering service (FastAPI) — built in a later issue."""
