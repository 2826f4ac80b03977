"""``ai-gateway-cli`` against a real control plane, with the product's commands as written."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.control_plane import ControlPlaneProcess


@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "cli", *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check is not None:
            assert done.returncode == check, (
                f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done


@pytest.fixture
def cli(control_plane: ControlPlaneProcess, tmp_path: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_GATEWAY_")}
    env.update(
        AI_GATEWAY_HOME=str(tmp_path / "home"),
        AI_GATEWAY_URL=control_plane.url,
        AI_GATEWAY_API_KEY=control_plane.api_key,
        COLUMNS="200",
    )
    return Cli(env, tmp_path)


def new_cluster() -> str:
    return f"aimlops-{uuid.uuid4().hex[:8]}"


def test_seed_commands_as_written(cli: Cli, control_plane: ControlPlaneProcess) -> None:
    cluster = new_cluster()
    key = cli.env["AI_GATEWAY_API_KEY"]
    out = cli("init", "--cluster", cluster, "--key", key).stdout
    assert f"cluster created {cluster}" in out
    credentials = Path(cli.env["AI_GATEWAY_HOME"]) / "credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600

    cli("add-route", "--path", "/predict", "--target", "http://ai-service:8080", "--method", "POST")
    cli("add-route", "--path", "/chat", "--target", "http://llm-service:5000")
    cli("add-route", "--path", "/ml-predict", "--target", "http://model-service:8000")
    cli("secure", "--endpoint", "/predict", "--auth", "jwt", "--rate-limit", "100/min")
    cli("secure", "--endpoint", "/chat", "--auth", "api-key", "--rate-limit", "50/min")

    routes = json.loads(cli("routes", "list", "-o", "json").stdout)
    assert [(r["path"], r["methods"], r["targets"][0]["url"]) for r in routes] == [
        ("/predict", ["POST"], "http://ai-service:8080"),
        ("/chat", [], "http://llm-service:5000"),
        ("/ml-predict", [], "http://model-service:8000"),
    ]
    with control_plane.client() as http:
        policies = http.get("/api/v1/security", params={"cluster": cluster}).json()["security"]
    assert [(p["endpoint"], p["auth"], p["rateLimit"]) for p in policies] == [
        ("/chat", "api-key", "50/min"),
        ("/predict", "jwt", "100/min"),
    ]
    table = cli("routes", "list").stdout
    assert "ml-predict" in table and "http://model-service:8000" in table


def test_a_route_on_the_model(cli: Cli) -> None:
    cli("init", "--cluster", new_cluster())
    cli(
        "add-route",
        "--path",
        "/v1/chat/completions",
        "--name",
        "llama",
        "--model",
        "llama-3*",
        "--model",
        "chat-large",
        "--target",
        "http://vllm:8000",
    )
    route = json.loads(cli("routes", "get", "llama", "-o", "json").stdout)
    assert route["models"] == ["llama-3*", "chat-large"]
    bad = cli(
        "add-route", "--path", "/v1/x", "--model", " spaced", "--target", "http://a:1", check=1
    )
    assert "models" in bad.stderr and "surrounding spaces" in bad.stderr


def test_key_from_the_saved_credentials(cli: Cli) -> None:
    cluster = new_cluster()
    cli("init", "--cluster", cluster, "--key", cli.env["AI_GATEWAY_API_KEY"])
    del cli.env["AI_GATEWAY_API_KEY"]
    cli("add-route", "--path", "/predict", "--target", "http://ai-service:8080")
    assert "predict" in cli("routes", "list").stdout


def test_init_config_then_apply_and_diff(cli: Cli, tmp_path: Path) -> None:
    cluster = new_cluster()
    cli("init", "--cluster", cluster)
    config = tmp_path / "path" / "to" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "routes:\n  - path: /predict\n    target: http://ai-service:8080\n    methods: [POST]\n"
        "security:\n  - endpoint: /predict\n    auth: jwt\n    rateLimit: 100\n"
        "callback: http://external-service/webhook\n"
    )
    cli("init", "--config", "path/to/config.yaml")
    assert cli("diff", "-f", str(config), check=1).stdout.count("+ ") == 3
    dry = cli("apply", "--dry-run").stdout
    assert "3 to create" in dry and "nothing applied" in dry
    assert "applied: revision 1" in cli("apply").stdout
    assert "no changes" in cli("apply").stdout
    cli("diff", "-f", str(config), check=0)

    exported = tmp_path / "exported.yaml"
    exported.write_text(cli("export").stdout)
    assert yaml.safe_load(exported.read_text())["routes"][0]["path"] == "/predict"
    cli("diff", "-f", str(exported), check=0)

    config.write_text(config.read_text().replace("8080", "9090"))
    changed = cli("diff", "-f", str(config), check=1).stdout
    assert "~ route predict" in changed
    assert "targets[0].url: http://ai-service:8080 -> http://ai-service:9090" in changed


def test_errors_in_the_seed_form(cli: Cli, tmp_path: Path) -> None:
    cluster = new_cluster()
    cli("init", "--cluster", cluster)
    bad = cli("add-route", "--path", "predict", "--target", "http://ai-service:8080", check=1)
    assert bad.stderr.startswith("Error: Invalid route path 'predict'")
    assert bad.stdout == ""

    bad_target = cli("add-route", "--path", "/x", "--target", "htp://x", check=1)
    assert "Error: 'htp://x' is not an http(s) URL" in bad_target.stderr
    assert "targets[0].url" in bad_target.stderr

    bad_rate = cli("secure", "--endpoint", "/x", "--auth", "jwt", "--rate-limit", "lots", check=1)
    assert "Error: 'lots' is not a rate" in bad_rate.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text("routes: [unclosed\n")
    assert cli("diff", "-f", str(broken), check=2).stderr.startswith("Error: ")
    assert cli("apply", "-f", str(tmp_path / "missing.yaml"), check=1).stderr.startswith(
        "Error: cannot read config file"
    )

    missing = cli("routes", "get", "nope", check=1)
    assert "Error: route 'nope' not found" in missing.stderr

    del cli.env["AI_GATEWAY_API_KEY"]
    no_key = cli("routes", "list", check=1)
    assert no_key.stderr.startswith("Error: API key required")
    assert "export AI_GATEWAY_API_KEY" in no_key.stderr

    cli.env["AI_GATEWAY_API_KEY"] = "wrong-key"
    assert "Error: wrong admin API key" in cli("routes", "list", check=1).stderr

    cli.env["AI_GATEWAY_URL"] = "http://127.0.0.1:9"
    unreachable = cli("routes", "list", check=1)
    assert "Error: cannot reach the gateway at http://127.0.0.1:9" in unreachable.stderr


def test_routes_get_delete_status_and_log_level(cli: Cli) -> None:
    cluster = new_cluster()
    cli("init", "--cluster", cluster)
    cli(
        "add-route",
        "--path",
        "/v1/chat/completions",
        "--target",
        "http://a:1",
        "--weight",
        "3",
        "--target",
        "http://b:1",
        "--header",
        "x-model=llama",
        "--name",
        "chat",
    )
    route = yaml.safe_load(cli("routes", "get", "chat").stdout)
    assert [(t["url"], t["weight"]) for t in route["targets"]] == [
        ("http://a:1", 3),
        ("http://b:1", 1),
    ]
    assert route["headers"] == [
        {"name": "x-model", "value": "llama", "regex": None, "present": None, "invert": False}
    ]

    status = json.loads(cli("status", "-o", "json").stdout)
    assert status["cluster"] == cluster and status["routes"] == 1 and status["revision"] == 1
    assert "revision 1" in cli("status").stdout

    assert "logLevel: debug" in cli("config", "--log-level", "debug").stdout
    assert "Error:" in cli("config", "--log-level", "loud", check=1).stderr

    cli("routes", "delete", "chat")
    assert json.loads(cli("routes", "list", "-o", "json").stdout) == []


def test_secure_changes_only_what_its_flags_say(cli: Cli) -> None:
    cluster = new_cluster()
    cli("init", "--cluster", cluster, "--key", cli.env["AI_GATEWAY_API_KEY"])
    cli("secure", "--endpoint", "/chat", "--auth", "api-key", "--rate-limit", "50/min",
        "--token-limit", "1000/min")  # fmt: skip

    def policy() -> dict[str, object]:
        (found,) = json.loads(cli("security", "list", "--output", "json").stdout)
        return dict(found)

    cli("secure", "--endpoint", "/chat", "--auth", "api-key")  # the limits stay
    assert (policy()["rateLimit"], policy()["tokenLimit"]) == ("50/min", "1000/min")
    cli("secure", "--endpoint", "/chat", "--rate-limit", "none")  # removes that one only
    assert policy()["rateLimit"] is None and policy()["tokenLimit"] == "1000/min"
    assert policy()["auth"] == "api-key"
    cli("secure", "--endpoint", "/chat", "--budget-tokens", "500", "--budget-per", "day")
    assert policy()["budget"] == {"usd": None, "tokens": 500, "per": "day", "warnAt": 0.8}
    cli("secure", "--endpoint", "/chat", "--budget-usd", "5")  # another unit, the same period
    assert policy()["budget"] == {"usd": 5.0, "tokens": None, "per": "day", "warnAt": 0.8}
    cli("secure", "--endpoint", "/chat", "--no-budget", "--token-limit", "none")
    assert policy()["budget"] is None and policy()["tokenLimit"] is None


def test_secure_with_jwt_and_no_provider_warns_how_to_add_one(cli: Cli) -> None:
    cluster = new_cluster()
    cli("init", "--cluster", cluster, "--key", cli.env["AI_GATEWAY_API_KEY"])
    done = cli("secure", "--endpoint", "/predict", "--auth", "jwt", "--rate-limit", "100/min")
    assert "endpoint /predict secured" in done.stdout
    assert "requires a JWT but the cluster has no JWT provider" in done.stderr
    assert "PUT /api/v1/jwt-providers" in done.stderr
    quiet = cli("secure", "--endpoint", "/open", "--auth", "api-key")
    assert "warning" not in quiet.stderr


def test_add_route_again_is_unchanged_and_another_target_needs_replace(cli: Cli) -> None:
    cluster = new_cluster()
    cli("init", "--cluster", cluster, "--key", cli.env["AI_GATEWAY_API_KEY"])
    seed = ("add-route", "--path", "/predict", "--target", "http://ai-service:8080",
            "--method", "POST")  # fmt: skip
    assert "route predict created" in cli(*seed).stdout
    assert "route predict unchanged" in cli(*seed).stdout  # the same command again: exit 0
    other = ("add-route", "--path", "/predict", "--target", "http://other:8080")
    refused = cli(*other, check=1)
    assert "--replace" in refused.stderr and "PUT /api/v1" not in refused.stderr
    assert "route predict replaced" in cli(*other, "--replace").stdout
    (route,) = json.loads(cli("routes", "list", "--output", "json").stdout)
    assert [t["url"] for t in route["targets"]] == ["http://other:8080"]


def test_two_teams_apply_their_own_documents_to_one_cluster(cli: Cli, tmp_path: Path) -> None:
    cluster = new_cluster()
    cli("init", "--cluster", cluster, "--key", cli.env["AI_GATEWAY_API_KEY"])
    cli("add-route", "--path", "/shared", "--target", "http://shared:80")  # nobody's document
    team_a, team_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    team_a.write_text("routes:\n  - {path: /a-chat, target: 'http://a:1', tags: [ai]}\n"
                      "  - {path: /a-embed, target: 'http://a:2'}\n"
                      "security:\n  - {endpoint: /a-chat, auth: api-key}\n")  # fmt: skip
    team_b.write_text("routes:\n  - {path: /b-chat, target: 'http://b:1'}\n")
    applied = cli("apply", "-f", str(team_a), "--select-tag", "team-a").stdout
    assert "3 to create" in applied, applied
    applied = cli("apply", "-f", str(team_b), "--select-tag", "team-b").stdout
    assert "1 to create, 0 to update, 0 to delete" in applied, applied  # team a's stay

    def names(*flags: str) -> list[str]:
        listed = json.loads(cli("routes", "list", "--output", "json", *flags).stdout)
        return sorted(r["name"] for r in listed)

    assert names() == ["a-chat", "a-embed", "b-chat", "shared"]
    assert names("--tag", "team-a") == ["a-chat", "a-embed"]
    assert names("--tag", "team-a", "--tag", "ai") == ["a-chat"]
    team_a.write_text("routes:\n  - {path: /a-chat, target: 'http://a:9', tags: [ai]}\n")
    changed = cli("apply", "-f", str(team_a), "--select-tag", "team-a").stdout
    assert "0 to create, 1 to update, 2 to delete" in changed, changed  # its embed and policy
    assert names() == ["a-chat", "b-chat", "shared"]

    exported = tmp_path / "exported.yaml"
    exported.write_text(cli("export", "--select-tag", "team-b").stdout)
    assert [r["path"] for r in yaml.safe_load(exported.read_text())["routes"]] == ["/b-chat"]
    assert "no changes" in cli("apply", "-f", str(exported), "--select-tag", "team-b").stdout

    theirs = tmp_path / "theirs.yaml"
    theirs.write_text("routes:\n  - {path: /b-chat, target: 'http://mine:1'}\n")
    refused = cli("apply", "-f", str(theirs), "--select-tag", "team-a", check=1)
    assert "routes[b-chat]" in refused.stderr and "another document" in refused.stderr
    theirs.write_text("routes: []\nsettings: {logLevel: debug}\n")
    refused = cli("apply", "-f", str(theirs), "--select-tag", "team-a", check=1)
    assert "(at settings)" in refused.stderr and "without --select-tag" in refused.stderr
    assert names() == ["a-chat", "b-chat", "shared"]  # nothing changed by a refused apply
