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
    # ``prices:`` at the top is the settings' price table, moved there when read.
    prices = schema["$defs"]["SettingsSpec"]["properties"]["prices"]
    schema["properties"]["prices"] = {**prices, "description": "the same as settings.prices"}
    schema["not"] = {
        "required": ["prices", "settings"],
        "properties": {"settings": {"required": ["prices"]}},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ai-gateway configuration",
        **schema,
    }


def render() -> str:
    return json.dumps(config_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render())
