"""Both processes' settings: a flag and its environment twin, one clear error for a bad value."""

from __future__ import annotations

import pytest

from control_plane.settings import parse_args as control_plane_args
from data_plane.settings import parse_args as data_plane_args


def refusal(parse: object, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        parse(argv)  # type: ignore[operator]
    return str(stopped.value)


@pytest.mark.parametrize(
    ("variable", "value", "flag", "says"),
    [
        ("AI_GATEWAY_WORKERS", "two", "--workers", "valid integer"),
        ("AI_GATEWAY_WORKERS", "0", "--workers", "greater than or equal to 1"),
        ("AI_GATEWAY_LISTEN", "nowhere", "--listen", "must be HOST:PORT"),
        ("AI_GATEWAY_EJECTION_SECONDS", "soon", "--ejection-seconds", "valid number"),
        ("AI_GATEWAY_LOG_LEVEL", "loud", "--log-level", "'debug', 'info', 'warning' or 'error'"),
        ("AI_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/99", "--trusted-proxies", "not an IP address"),
        ("AI_GATEWAY_CONNECT_TO", "ai-service:8080", "--connect-to", "HOST:PORT:ADDRESS:PORT"),
        ("AI_GATEWAY_CONNECT_TO", "a:8080:127.0.0.1:0", "--connect-to", "a port must be 1-65535"),
        ("AI_GATEWAY_CONNECT_TO", "a b:1:127.0.0.1:2", "--connect-to", "HOST:PORT:ADDRESS:PORT"),
    ],
)
def test_a_bad_data_plane_value_names_the_flag_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, flag: str, says: str
) -> None:
    from_flag = refusal(data_plane_args, [flag, value])
    assert from_flag.startswith(f"Error: {flag} {value!r}: ") and says in from_flag
    assert f"({flag} / {variable})" in from_flag
    monkeypatch.setenv(variable, value)
    from_env = refusal(data_plane_args, [])
    assert from_env.startswith(f"Error: {variable} {value!r}: ") and says in from_env


def test_flags_win_over_the_environment_and_defaults_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_GATEWAY_WORKERS", "3")
    monkeypatch.setenv("AI_GATEWAY_DATAPLANE_TOKEN", "from-the-environment")
    settings = data_plane_args(["--workers", "2", "--no-access-log"])
    assert settings.workers == 2 and not settings.access_log
    assert settings.token == "from-the-environment"
    assert (
        settings.listen == ("0.0.0.0", 8080) and settings.api_forward_url == "http://127.0.0.1:8081"
    )
    assert "from-the-environment" not in repr(settings)
    assert settings.connect_to == ()


def test_connect_to_takes_curls_form_several_at_once() -> None:
    settings = data_plane_args(
        ["--connect-to", "AI-Service:8080:127.0.0.1:8000, llm-service:5000:[::1]:8001"]
    )
    assert settings.connect_to == (
        ("ai-service", 8080, "127.0.0.1", 8000),
        ("llm-service", 5000, "::1", 8001),
    )


def test_control_plane_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "no admin API key" in refusal(control_plane_args, [])
    monkeypatch.setenv("AI_GATEWAY_API_KEY", "k" * 20)
    monkeypatch.setenv("AI_GATEWAY_ADMIN_LISTEN", "127.0.0.1:9000")
    settings = control_plane_args(["--grpc-listen", "0.0.0.0:50052"])
    assert settings.admin_listen == "127.0.0.1:9000" and settings.grpc_listen == "0.0.0.0:50052"
    assert "k" * 20 not in repr(settings)
    assert "go together" in refusal(control_plane_args, ["--tls-cert", __file__])
    monkeypatch.setenv("AI_GATEWAY_POLL_INTERVAL", "fast")
    assert refusal(control_plane_args, []).startswith("Error: AI_GATEWAY_POLL_INTERVAL 'fast': ")
