"""Benchmarks that print figures (`make bench`): ours beside LangChain, LlamaIndex and the
bare model, each system in its own process."""
