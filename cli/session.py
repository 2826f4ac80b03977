"""From command-line options to an SDK client, and from SDK errors to the CLI's error lines."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from ai_gateway import AI_Gateway, ClusterClient, GatewayError
from ai_gateway.context import resolve_cluster
from ai_gateway.errors import GatewayConnectionError
from cli.output import stderr

P = ParamSpec("P")
R = TypeVar("R")

ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        "-c",
        help="cluster (default: the saved context, then 'default')",
        envvar="AI_GATEWAY_CLUSTER",
        show_envvar=False,
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="control-plane URL (default: $AI_GATEWAY_URL, the saved context, "
        "then http://127.0.0.1:8081)",
        show_default=False,
    ),
]

MISSING_KEY = (
    "API key required: export AI_GATEWAY_API_KEY=<key> "
    "(or save it with ai-gateway-cli init --key <key>)"
)


def fail(message: str, code: int = 1) -> typer.Exit:
    stderr.print(f"Error: {message}", highlight=False, markup=False)
    return typer.Exit(code)


def error_message(error: GatewayError) -> str:
    """'path: Invalid route path ...' -> "Invalid route path ... (at path)"."""
    message = error.message
    if error.field and message.startswith(f"{error.field}: "):
        message = f"{message[len(error.field) + 2 :]} (at {error.field})"
    return message


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn SDK errors into ``Error: ...`` on stderr and a non-zero exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except GatewayConnectionError as error:
            raise fail(error.message) from None
        except GatewayError as error:
            raise fail(error_message(error)) from None
        except ValueError as error:
            if str(error) == "API key required":
                raise fail(MISSING_KEY) from None
            raise fail(str(error)) from None

    return wrapper


def gateway(url: str | None = None, api_key: str | None = None) -> AI_Gateway:
    return AI_Gateway(api_key=api_key, url=url)


def cluster_client(cluster: str | None, url: str | None = None) -> ClusterClient:
    """Without connect()'s check: the command's own call names what is wrong (a missing
    cluster, a wrong key) in its answer."""
    return ClusterClient(gateway(url), resolve_cluster(cluster))


def compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != [] and v is not False}
