"""``ai-gateway-cli routes list|get|delete`` and ``security list|delete``."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.output import Output, emit_data, routes_table, security_table, stdout
from cli.session import ClusterOption, UrlOption, cluster_client, reports_errors

OutputOption = Annotated[
    Output, typer.Option("--output", "-o", "--format", help="table, json or yaml")
]

routes_app = typer.Typer(help="List, show and delete routes.", no_args_is_help=True)
security_app = typer.Typer(help="List and delete security policies.", no_args_is_help=True)


TagOption = Annotated[
    list[str] | None, typer.Option("--tag", help="only those with this tag; repeat for all of them")
]


@routes_app.command("list")
@reports_errors
def list_routes(
    tag: TagOption = None,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List the cluster's routes in match order."""
    routes = cluster_client(cluster, url).list_routes(tags=tag or ())
    if not emit_data(routes, output):
        routes_table(routes)


@routes_app.command("get")
@reports_errors
def get_route(
    route: Annotated[str, typer.Argument(help="route id or name")],
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.yaml,
) -> None:
    """Show one route."""
    found = cluster_client(cluster, url).get_route(route)
    if not emit_data(found, output):
        routes_table([found])


@routes_app.command("delete")
@reports_errors
def delete_route(
    route: Annotated[str, typer.Argument(help="route id or name")],
    cluster: ClusterOption = None,
    url: UrlOption = None,
) -> None:
    """Delete a route; data planes stop serving it within a second."""
    result = cluster_client(cluster, url).delete_route(route)
    stdout.print(f"deleted route {route} (revision {result['revision']})", highlight=False)


@security_app.command("list")
@reports_errors
def list_security(
    tag: TagOption = None,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List the cluster's security policies."""
    policies = cluster_client(cluster, url).list_security(tags=tag or ())
    if not emit_data(policies, output):
        security_table(policies)


@security_app.command("delete")
@reports_errors
def delete_security(endpoint: str, cluster: ClusterOption = None, url: UrlOption = None) -> None:
    """Remove an endpoint's policy (the endpoint becomes open)."""
    result = cluster_client(cluster, url).delete_security(endpoint)
    stdout.print(
        f"deleted security policy {result['deleted']} (revision {result['revision']})",
        highlight=False,
    )
