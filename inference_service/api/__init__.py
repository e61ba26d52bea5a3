"""HTTP layer: thin routes, pydantic schemas, one error shape."""
