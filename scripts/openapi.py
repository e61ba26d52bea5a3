"""Print the service's OpenAPI document (default settings); the page's types are generated from it.

python scripts/openapi.py > frontend/openapi.json
cd frontend/tools/openapi-types && npm run generate
"""

from __future__ import annotations

import json
import sys

from inference_service.app import create_app
from inference_service.settings import Settings


def document() -> dict:
    """The document as /openapi.json serves it; building the app loads no model."""
    return create_app(Settings.load(config_file=None)).openapi()


if __name__ == "__main__":
    json.dump(document(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
