"""The JSON Schema of the config file, generated from the models.

The committed copy (config.schema.json beside this module) is what editors
point at (``# yaml-language-server: $schema=...``); a test keeps it current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from control_plane.domain.config import GatewayConfig

SCHEMA_PATH = Path(__file__).with_name("config.schema.json")


def config_schema() -> dict[str, Any]:
    schema = GatewayConfig.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ai-gateway configuration",
        **schema,
    }


def render() -> str:
    return json.dumps(config_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render())
