"""Document ingestion: parsing in isolated processes, chunking, incremental indexing."""
