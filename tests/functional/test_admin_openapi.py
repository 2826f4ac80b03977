"""schemathesis against a real control plane: no 5xx, and nothing the OpenAPI document does not say.

Every default check runs, in every phase (examples, coverage, fuzzing, stateful):
server errors, statuses, content types, headers and bodies against the document,
unsupported methods (405 with Allow), requests without or with a wrong key,
data the document forbids (refused) and data it allows (accepted). Parameters
are stated exactly, so a request that follows the document is never answered
400; a body may follow the document and still break a rule JSON Schema cannot
state (a regex RE2 must compile, a weight above 0 somewhere), which is the
document's 422 naming the field. Bounded: a fixed seed, a few dozen examples
per operation, a time limit. schemathesis runs as its own process (its CLI),
as a user would run it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.control_plane import ControlPlaneProcess

SETTINGS = """
seed = 20261201

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "404", "409", "422"]
"""


@pytest.mark.timeout(360)
def test_the_admin_api_does_what_its_document_says(tmp_path: Path) -> None:
    plane = ControlPlaneProcess(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        # The wrong keys schemathesis sends on purpose must not throttle its own run.
        extra_args=["--auth-failures-per-minute", "1000000"],
    )
    plane.start()
    config = tmp_path / "schemathesis.toml"
    config.write_text(SETTINGS)
    try:
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(config),
                "--no-color",
                "run",
                plane.url + "/api/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {plane.api_key}",
                "--max-examples",
                "25",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            check=False,
        )
    finally:
        plane.stop()
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-12_000:]
    assert "Selected: 38/38" in report, report[-3000:]  # every operation, PATCH security too
