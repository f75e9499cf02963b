"""The REST question-answering service (FastAPI): `api.app.create_app(config)`, started by
`rag serve` or `uvicorn --factory api.app:create_app`."""
