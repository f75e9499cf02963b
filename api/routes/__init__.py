"""The service's routes, one module per group; each exposes `router`."""
