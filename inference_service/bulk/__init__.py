"""Bulk annotation: every face of a photo collection into Parquet, on Ray Data.

`options` (the `[service.bulk]` section) and `rows` (the Parquet schema, rows from the service's
answer) import without Ray; `run` holds the Ray plumbing and needs the `bulk` extra.
"""
