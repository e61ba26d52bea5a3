"""JSON-lines logging with the request id of the request being served.

Every line is one JSON object, so logs can be searched and shipped without
parsing prose. Only what the code passes explicitly is logged: never request
bodies, never uploaded bytes, never file names.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Fields a caller may attach with `logger.info(..., extra={...})`.
_EXTRA_FIELDS = (
    "method",
    "path",
    "status",
    "duration_ms",
    "client",
    "device",
    "model",
    "version",
    "faces",
    "files",
    "event",
    "error",
    "config",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for name in _EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "info") -> None:
    """Send every logger (ours and uvicorn's) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The multipart parser logs bytes of malformed bodies: uploads never reach the logs.
    logging.getLogger("python_multipart").setLevel(logging.CRITICAL)
    # Our own access line replaces uvicorn's plain-text one.
    logging.getLogger("uvicorn.access").disabled = True
