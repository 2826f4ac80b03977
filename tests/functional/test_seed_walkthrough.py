"""The product description's usage sections, in their order, right after ``make run``.

``make run`` is ``ai-gateway-cli up --demo --config deploy/demo/config.yaml``; here it runs
on free ports, and ``gateway:8080`` is its proxy listener. Every step is the command or
snippet as written; the two placeholders are filled in as a user would (``path/to/config.yaml``
is a file holding the description's YAML: its routes and security, and the callback its
integration notes add; ``your_api_key_here`` is the key in use).
``kubectl annotate pod ai-pod aimlops/gateway=true`` needs a Kubernetes API and is run in
test_kubernetes_discovery against an emulated one.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.functional.test_cli import Cli
from tests.functional.test_up import free_port, read_until_up, start_up, up_env
from tests.unit.test_config_document import SEED_YAML

SEED_CONFIG = SEED_YAML.lstrip()  # the product description's YAML, its callback added


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[tuple[str, Cli]]:
    """A gateway as ``make run`` leaves it, and the CLI in a shell with
    ``AI_GATEWAY_API_KEY`` exported (the demo key, abc123)."""
    ports = tuple(free_port() for _ in range(5))
    env = {**up_env(tmp_path), "COLUMNS": "200"}
    up = start_up(tmp_path, ports, env)
    try:
        assert "4 to create" in read_until_up(up)
        yield f"http://127.0.0.1:{ports[0]}", Cli(env, tmp_path)
    finally:
        up.send_signal(signal.SIGINT)
        output = up.communicate(timeout=30)[0].decode()
        assert up.returncode == 0 and "Traceback" not in output, output[-3000:]


def served(gateway: str, path: str, deadline_s: float = 15.0) -> requests.Response:
    """POST ``path`` until the data plane serves it (a change reaches it within a second)."""
    deadline = time.monotonic() + deadline_s
    while True:
        answer = requests.post(gateway + path, data='{"input": "data"}', timeout=5)
        if answer.status_code != 404 or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def reported(cli: Cli, *args: str, showing: str, deadline_s: float = 15.0) -> str:
    """``ai-gateway-cli *args`` once it shows ``showing``: traffic reaches the control plane
    with the data plane's next report (every 5 s), as a user running it would see."""
    deadline = time.monotonic() + deadline_s
    while True:
        out = str(cli(*args).stdout)
        if showing in out or time.monotonic() > deadline:
            return out
        time.sleep(0.5)


def test_the_usage_sections_in_order(quickstart: tuple[str, Cli], tmp_path: Path) -> None:
    gateway, cli = quickstart
    # headers = {'Authorization': f'Bearer {os.environ.get("AI_GATEWAY_API_KEY")}'}
    headers = {"Authorization": f"Bearer {cli.env.get('AI_GATEWAY_API_KEY')}"}

    # Usage Patterns: init --config path/to/config.yaml, then apply.
    (tmp_path / "path" / "to").mkdir(parents=True)
    config = tmp_path / "path" / "to" / "config.yaml"
    config.write_text(SEED_CONFIG)
    assert "context saved" in cli("init", "--config", "path/to/config.yaml").stdout
    applied = cli("apply")
    # The file holds only /predict: apply says what it removes, and what the policy needs.
    assert "- route ml-predict" in applied.stdout and "applied: revision" in applied.stdout
    assert "no JWT provider" in applied.stderr

    # Common Commands: the CLI.
    key = cli.env["AI_GATEWAY_API_KEY"]
    out = cli("init", "--cluster", "aimlops", "--key", key).stdout
    assert "cluster exists: aimlops" in out
    out = cli(
        "add-route", "--path", "/predict", "--target", "http://ai-service:8080", "--method", "POST"
    ).stdout
    assert "route predict unchanged" in out  # the config file has just made it
    secured = cli("secure", "--endpoint", "/predict", "--auth", "jwt", "--rate-limit", "100/min")
    assert "/predict" in secured.stdout and "no JWT provider" in secured.stderr
    metrics = json.loads(cli("metrics", "--format", "json").stdout)
    assert "routes" in metrics and "total" in metrics

    # Common Commands: the REST API (through gateway:8080, which forwards /api/v1).
    created = requests.post(
        gateway + "/api/v1/routes",
        json={"path": "/predict", "target": "http://ai-service:8080", "method": "POST"},
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 200 and created.json()["unchanged"], created.text
    security = requests.put(
        gateway + "/api/v1/security/predict",
        json={"authType": "jwt", "rateLimit": 100},
        headers=headers,
        timeout=10,
    )
    assert security.status_code == 200, security.text
    assert security.json()["rateLimit"] == "100/min", security.text  # a number is per minute
    latency = requests.get(gateway + "/api/v1/metrics?type=latency", headers=headers, timeout=10)
    assert latency.status_code == 200, latency.text
    assert latency.json()["type"] == "latency" and "p99Ms" in latency.json()["total"]

    # Code Snippets: python, then bash.
    response = requests.post(
        "http://gateway:8080/api/v1/routes".replace("http://gateway:8080", gateway),
        json={"path": "/predict", "target": "http://ai-service:8080"},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text  # the route it asks for is there
    out = cli("add-route", "--path", "/chat", "--target", "http://llm-service:5000").stdout
    assert "route chat created" in out
    chat = served(gateway, "/chat")
    assert chat.status_code == 200, chat.text  # llm-service:5000, the demo's model service

    # Integration Notes: the SDK, tags, and the callback the YAML holds.
    connected = subprocess.run(
        [sys.executable, "-c",
         "import os\n"
         "from ai_gateway import AI_Gateway\n"
         "gw = AI_Gateway(api_key=os.environ['AI_GATEWAY_API_KEY']).connect(cluster='aimlops')\n"
         "gw.createRoute(path='/embed', target='http://model-service:8000', tags=['ai', 'mlops'])\n"
         "print(' '.join(r['name'] for r in gw.list_routes(tags=['ai', 'mlops'])))\n"],
        env=cli.env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert connected.returncode == 0, connected.stderr
    assert connected.stdout.split() == ["embed"]  # predict and chat carry no tags
    stored = requests.get(gateway + "/api/v1/config", headers=headers, timeout=10).json()
    assert stored["callback"] == "http://external-service/webhook"

    # Error Handling: a wrong key is 401, the retry with the new key passes; CLI errors.
    wrong = requests.get(
        gateway + "/api/v1/routes", headers={"Authorization": "Bearer old"}, timeout=10
    )
    assert wrong.status_code == 401
    new_key = key
    headers["Authorization"] = f"Bearer {new_key}"
    assert requests.get(gateway + "/api/v1/routes", headers=headers, timeout=10).ok
    bad = cli("add-route", "--path", "predict", "--target", "http://ai-service:8080", check=1)
    assert bad.stderr.startswith("Error: ") and "Invalid route path" in bad.stderr
    assert "debug" in cli("config", "--log-level", "debug").stdout

    # Concrete Usage Examples 1: route, then curl.
    out = cli("add-route", "--path", "/ml-predict", "--target", "http://model-service:8000").stdout
    assert "route ml-predict created" in out
    served(gateway, "/ml-predict")
    curl = shutil.which("curl")
    if curl is not None:
        done = subprocess.run(
            [curl, "-sS", "-H", "Authorization: Bearer abc123",
             f"{gateway}/ml-predict", "-d", '{"input": "data"}'],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        answer = json.loads(done.stdout)
    else:  # the same request
        answer = served(gateway, "/ml-predict").json()
    assert "prediction" in answer, answer

    # Concrete Usage Examples 2: secure and monitor.
    out = cli("secure", "--endpoint", "/chat", "--auth", "api-key", "--rate-limit", "50/min").stdout
    assert "endpoint /chat secured" in out and "50/min" in out
    assert "chat" in reported(cli, "metrics", "--endpoint", "/chat", showing="chat")
    headers = {"Authorization": f"Bearer {cli.env['AI_GATEWAY_API_KEY']}"}
    assert requests.get(gateway + "/api/v1/metrics", headers=headers, timeout=10).ok
