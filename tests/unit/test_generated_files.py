"""Committed generated files (protobuf modules, config JSON Schema) match their sources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from control_plane.domain.schema import SCHEMA_PATH, render

ROOT = Path(__file__).resolve().parents[2]


def test_protobuf_modules_are_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), str(tmp_path)], check=True
    )
    generated = sorted(p.relative_to(tmp_path) for p in (tmp_path / "protos").iterdir())
    assert generated, "no modules were generated"
    for relative in generated:
        committed = ROOT / relative
        assert committed.exists(), f"{relative} is not committed; run make protos"
        assert committed.read_text() == (tmp_path / relative).read_text(), (
            f"{relative} is stale; run make protos"
        )


def test_config_schema_is_fresh() -> None:
    assert SCHEMA_PATH.read_text() == render(), "config.schema.json is stale; run make schema"


def test_seed_yaml_validates_against_the_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    seed = yaml.safe_load(
        """
routes:
  - path: /predict
    target: http://ai-service:8080
    methods: [POST]
security:
  - endpoint: /predict
    auth: jwt
    rateLimit: 100
callback: http://external-service/webhook
"""
    )
    jsonschema.validate(seed, schema)
    bad = {"routes": [{"path": "/x", "target": "http://a", "colour": "blue"}]}
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError as exc:
        assert "colour" in exc.message
    else:
        raise AssertionError("the schema accepted an unknown route field")
