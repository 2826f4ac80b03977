"""The shipped dashboards work: a real Prometheus, configured from deploy/prometheus/, scrapes a
gateway under traffic, and every panel's query is valid and returns data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from scripts.gen_dashboards import DASHBOARDS, render
from tests.support.gateway import Gateway, wait_until_serving
from tests.support.processes import ChildProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "deploy" / "grafana" / "dashboards"
# What Grafana puts in for its variables when the dashboard shows everything.
VARIABLES = {"$__rate_interval": "30s", "$__range": "5m", "$route": ".*"}


def require_prometheus() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        reason = "prometheus is not installed (apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; .ci/run installs it")
        pytest.skip(reason)
    return binary


def panel_queries() -> Iterator[tuple[str, str, str]]:
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield dashboard["uid"], panel["title"], target["expr"]


def substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def prometheus_config(gw: Gateway, workdir: Path) -> Path:
    """The shipped scrape config, pointed at this test's processes and scraping every second."""
    assert gw.control_plane is not None
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    addresses = {
        "ai-gateway-data-plane": f"127.0.0.1:{gw.data_planes[0].ready['ops_port']}",
        "ai-gateway-control-plane": f"127.0.0.1:{gw.control_plane.admin_port}",
    }
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [addresses[job["job_name"]]]}]
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def query(prometheus: str, expr: str) -> dict[str, Any]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body: dict[str, Any] = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (expr, body)
    return body


def test_the_committed_dashboards_are_generated_and_provisioning_ready() -> None:
    for dashboard in DASHBOARDS:
        committed = json.loads((DASHBOARD_DIR / f"{dashboard.uid}.json").read_text())
        assert committed == render(dashboard), "run: python scripts/gen_dashboards.py"
        variables = {v["name"]: v for v in committed["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        for panel in committed["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/ai-gateway.yaml").read_text()
    )
    assert provider["providers"][0]["type"] == "file"


def test_every_panel_query_returns_data_from_a_real_prometheus(tmp_path: Path) -> None:
    binary = require_prometheus()
    gw = Gateway(tmp_path)
    prometheus_process: ChildProcess | None = None
    try:
        gw.start_control_plane("--telemetry-interval", "0.3")
        good = gw.add_upstream("model")
        models = gw.add_model_server("llm")
        gw.add_data_plane("dp", "--ejection-seconds", "1")
        dead = f"http://127.0.0.1:{free_port()}"
        gw.add_route(name="chat", path="/chat", target=good)
        fallback = {"url": good, "priority": 1}
        gw.add_route(name="flaky", path="/flaky", targets=[dead, fallback])
        gw.add_route(name="down", path="/down", target=dead)
        gw.add_route(name="keyed", path="/keyed", target=good)
        gw.secure("/keyed", authType="api-key")
        gw.secure("/chat", rateLimit={"requests": 5, "periodSeconds": 60})
        gw.add_route(name="llm", path="/v1", target=models)
        gw.secure("/v1", authType="api-key")
        with gw.admin() as http:
            answer = http.patch(
                "/api/v1/settings",
                params={"cluster": gw.cluster},
                json={"prices": {"gpt-4o": {"input": 2.5, "output": 10.0}}},
            )
            assert answer.status_code == 200, answer.text
            created = http.post(
                "/api/v1/consumers/team-a/keys", params={"cluster": gw.cluster}, json={}
            )
            key = created.json()["key"]
        wait_until_serving(gw.data_planes[0], int(created.headers["X-AI-Gateway-Revision"]))

        port = free_port()
        prometheus = f"http://127.0.0.1:{port}"
        prometheus_process = ChildProcess(
            "prometheus",
            [
                f"--config.file={prometheus_config(gw, tmp_path)}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            tmp_path,
            executable=binary,
        ).start()
        deadline = time.monotonic() + 30
        while not _ready(prometheus):
            assert time.monotonic() < deadline, prometheus_process.logs()[-2000:]
            time.sleep(0.2)

        url = gw.proxy_url()
        llm = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        with httpx.Client() as client:
            for round_ in range(8):
                for path in ("/chat", "/flaky", "/down", "/keyed"):
                    client.get(url + path)
                for _ in llm.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
                ):
                    pass
                gw.add_route(name=f"extra-{round_}", path=f"/extra/{round_}", target=good)
                time.sleep(0.5)

        deadline = time.monotonic() + 20
        empty: list[str] = []
        while True:
            empty = [
                f"{uid} / {title}: {expr}"
                for uid, title, expr in panel_queries()
                if not query(prometheus, substitute(expr))["data"]["result"]
            ]
            if not empty:
                break
            assert time.monotonic() < deadline, "panels without data:\n" + "\n".join(empty)
            time.sleep(1)
        routes = httpx.get(
            f"{prometheus}/api/v1/label/route/values", params={"match[]": "aigw_requests_total"}
        ).json()["data"]
        assert {"chat", "flaky", "down", "keyed"} <= set(routes), "the $route variable's values"
    finally:
        if prometheus_process is not None:
            prometheus_process.stop()
        gw.stop()


def _ready(prometheus: str) -> bool:
    try:
        return httpx.get(f"{prometheus}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_metrics_pass_promtool(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane()
        gw.add_data_plane("dp")
        gw.add_route(name="chat", path="/chat", target=gw.add_upstream("model"))
        gw.add_route(name="llm", path="/v1", target=gw.add_model_server("llm"))
        httpx.get(gw.proxy_url() + "/chat")
        llm = openai.OpenAI(base_url=gw.proxy_url() + "/v1", api_key="x", max_retries=0)
        for _ in llm.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
        llm.embeddings.create(model="embed", input="hi")
        assert gw.control_plane is not None
        for endpoint in (
            f"http://127.0.0.1:{gw.data_planes[0].ready['ops_port']}/metrics",
            f"{gw.control_plane.url}/metrics",
        ):
            checked = subprocess.run(
                ["promtool", "check", "metrics"],
                input=httpx.get(endpoint).text,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert checked.returncode == 0, (endpoint, checked.stdout, checked.stderr)
        metrics = httpx.get(f"http://127.0.0.1:{gw.data_planes[0].ready['ops_port']}/metrics").text
        assert "gen_ai_client_token_usage_bucket" in metrics and "aigw_tokens_total" in metrics
    finally:
        gw.stop()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
