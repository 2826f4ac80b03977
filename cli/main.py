"""``ai-gateway-cli``: a thin face of the SDK (ai_gateway)."""

from __future__ import annotations

from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any

import typer

from ai_gateway import GatewayError
from ai_gateway.context import SavedContext, resolve_cluster, resolve_key, resolve_url, save_key
from ai_gateway.errors import ConflictError
from ai_gateway.ops import data_plane_status
from cli.documents import apply, diff, export, read_config_file
from cli.history import history, rollback
from cli.identities import jwt_app, keys_app
from cli.output import (
    Output,
    dataplanes_table,
    diff_lines,
    emit_data,
    health_table,
    metrics_tables,
    routes_table,
    security_table,
    stderr,
    stdout,
    tokens_table,
    usage_table,
    webhooks_table,
)
from cli.routes import OutputOption, routes_app, security_app
from cli.session import (
    MISSING_KEY,
    ClusterOption,
    UrlOption,
    cluster_client,
    compact,
    error_message,
    fail,
    gateway,
    reports_errors,
)

app = typer.Typer(
    name="ai-gateway-cli",
    help="Manage an ai-gateway: routes, security, config and status.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion, --show-completion
)


def _print_version(asked: bool) -> None:
    if asked:
        stdout.print(f"ai-gateway-cli {package_version('ai-gateway')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True,
                     help="print the version and exit"),
    ] = False,
) -> None:  # fmt: skip
    """Manage an ai-gateway: routes, security, config and status."""


app.add_typer(routes_app, name="routes")
app.add_typer(security_app, name="security")
app.add_typer(keys_app, name="keys")
app.add_typer(jwt_app, name="jwt")
app.command()(history)
app.command()(rollback)


@app.command()
@reports_errors
def init(
    config: Annotated[
        Path | None, typer.Option("--config", help="config file that apply uses")
    ] = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="cluster to create and use")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="admin API key to save (mode 0600)")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Save a context (URL, cluster, config file, key) and create the cluster if needed."""
    saved = SavedContext.load()
    config_path = None
    if config is not None:
        document = read_config_file(config)
        config_path = str(config.resolve())
        if cluster is None and isinstance(document.get("cluster"), str):
            cluster = document["cluster"]
    context = SavedContext(
        url=url or saved.url,
        cluster=cluster or saved.cluster,
        config=config_path or saved.config,
    )
    path = context.save()
    if key:
        save_key(key)
    stdout.print(f"context saved to {path}", highlight=False)
    if cluster:
        result = gateway(url=context.url, api_key=key).create_cluster(cluster)
        verb = "created" if result.get("created") else "exists:"
        stdout.print(
            f"cluster {verb} {cluster} (revision {result['revision']}) at "
            f"{resolve_url(context.url)}",
            highlight=False,
        )


def _header_matchers(headers: list[str]) -> list[dict[str, Any]]:
    matchers: list[dict[str, Any]] = []
    for header in headers:
        if "=" in header:
            name, _, value = header.partition("=")
            matchers.append({"name": name.strip(), "value": value.strip()})
        elif "~" in header:
            name, _, regex = header.partition("~")
            matchers.append({"name": name.strip(), "regex": regex.strip()})
        else:
            matchers.append({"name": header.strip(), "present": True})
    return matchers


def _targets(targets: list[str], weights: list[int], priorities: list[int]) -> list[dict[str, Any]]:
    if len(weights) > len(targets) or len(priorities) > len(targets):
        raise fail("give at most one --weight and one --priority per --target, in the same order")
    return [
        compact(
            {
                "url": url,
                "weight": weights[i] if i < len(weights) else None,
                "priority": priorities[i] if i < len(priorities) else None,
            }
        )
        for i, url in enumerate(targets)
    ]


@app.command("add-route")
@reports_errors
def add_route(
    path: Annotated[str, typer.Option("--path", help="request path, like /predict")],
    target: Annotated[list[str], typer.Option("--target", help="backend URL; repeat for several")],
    method: Annotated[
        list[str] | None, typer.Option("--method", help="HTTP method; repeat")
    ] = None,
    weight: Annotated[
        list[int] | None, typer.Option("--weight", help="per --target, in order")
    ] = None,
    priority: Annotated[
        list[int] | None, typer.Option("--priority", help="failover group per --target (0 first)")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="route name (default: from the path)")
    ] = None,
    match: Annotated[str, typer.Option("--match", help="prefix, exact or regex")] = "prefix",
    header: Annotated[
        list[str] | None, typer.Option("--header", help="NAME=VALUE, NAME~REGEX or NAME (present)")
    ] = None,
    host: Annotated[
        list[str] | None, typer.Option("--host", help="Host header to match; repeat")
    ] = None,
    strip_prefix: Annotated[
        bool, typer.Option("--strip-prefix", help="drop the matched prefix upstream")
    ] = False,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="match on the body's model (a name or * glob); repeat"),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="replace a route of that name that differs")
    ] = False,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Add a route: ai-gateway-cli add-route --path /predict --target http://ai-service:8080 --method POST

    The same route again changes nothing; another route of that name needs --replace."""
    document = compact(
        {
            "name": name,
            "path": path,
            "match": match,
            "methods": method or None,
            "targets": _targets(target, weight or [], priority or []),
            "headers": _header_matchers(header or []) or None,
            "hosts": host or None,
            "stripPrefix": strip_prefix,
            "models": model or None,
        }
    )
    try:
        route = cluster_client(cluster, url).create_route(replace=replace, **document)
    except ConflictError:
        shown = name or "the route"
        raise fail(
            f"{shown} at {path} already exists with other settings (see ai-gateway-cli routes "
            "list); run the same command with --replace to replace it, or give this one "
            "another --name"
        ) from None
    if not emit_data(route, output):
        outcome = "unchanged" if route.get("unchanged") else (
            "replaced" if route.get("replaced") else "created")  # fmt: skip
        stdout.print(f"route {route['name']} {outcome} (id {route['id']})", highlight=False)
        routes_table([route])


@app.command()
@reports_errors
def secure(
    endpoint: Annotated[str, typer.Option("--endpoint", help="path to secure, like /predict")],
    auth: Annotated[
        str | None, typer.Option("--auth", help="jwt, api-key or none (new policy: none)")
    ] = None,
    rate_limit: Annotated[
        str | None,
        typer.Option("--rate-limit", help="like 100/min (s, min, hour, day); none removes it"),
    ] = None,
    token_limit: Annotated[
        str | None,
        typer.Option(
            "--token-limit",
            help="input+output tokens per consumer, like 100000/min; none removes it",
        ),
    ] = None,
    budget_usd: Annotated[
        float | None, typer.Option("--budget-usd", help="dollars per consumer and --budget-per")
    ] = None,
    budget_tokens: Annotated[
        int | None, typer.Option("--budget-tokens", help="tokens per consumer and --budget-per")
    ] = None,
    budget_per: Annotated[
        str | None, typer.Option("--budget-per", help="day, week or month (UTC; new: month)")
    ] = None,
    default_max_tokens: Annotated[
        int | None,
        typer.Option("--default-max-tokens", help="reserved when a request sets no max_tokens"),
    ] = None,
    no_budget: Annotated[bool, typer.Option("--no-budget", help="remove the budget")] = False,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Set an endpoint's policy: ai-gateway-cli secure --endpoint /predict --auth jwt --rate-limit 100/min

    Only what the flags say changes: a limit the command does not name stays as it was."""
    changes: dict[str, Any] = {}
    if auth is not None:
        changes["authType"] = auth
    for key, value in (("rateLimit", rate_limit), ("tokenLimit", token_limit)):
        if value is not None:
            changes[key] = None if value.strip().lower() == "none" else value
    if budget_usd is not None or budget_tokens is not None:  # the one amount given, only
        budget: dict[str, Any] = {"usd": budget_usd, "tokens": budget_tokens}
        if budget_per is not None:
            budget["per"] = budget_per
        changes["budget"] = budget
    elif budget_per is not None:
        changes["budget"] = {"per": budget_per}
    if no_budget:
        changes["budget"] = None
    if default_max_tokens is not None:
        changes["defaultMaxTokens"] = default_max_tokens
    policy = cluster_client(cluster, url).update_security(endpoint, **changes)
    if not emit_data(policy, output):
        stdout.print(f"endpoint {policy['endpoint']} secured", highlight=False)
        security_table([policy])
    for warning in policy.get("warnings") or []:
        stderr.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


app.command()(apply)
app.command()(diff)
app.command()(export)


@app.command()
@reports_errors
def status(
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
    data_plane: Annotated[
        list[str] | None,
        typer.Option(
            "--data-plane",
            help="a data plane's ops URL (like http://127.0.0.1:9901) "
            "whose backend health to show; repeat",
        ),
    ] = None,
) -> None:
    """The cluster's revision, what it holds, its data planes, and (--data-plane) backend health."""
    client = cluster_client(cluster, url)
    clusters = {c["name"]: c for c in gateway(url).clusters()}
    name = resolve_cluster(cluster)
    if name not in clusters:
        raise fail(
            f"cluster '{name}' does not exist; create it with ai-gateway-cli init --cluster {name}"
        )
    routes, policies, dataplanes = client.list_routes(), client.list_security(), client.dataplanes()
    report = {
        "url": resolve_url(url),
        "cluster": name,
        "revision": clusters[name]["revision"],
        "error": clusters[name].get("error"),
        "routes": len(routes),
        "security": len(policies),
        "dataplanes": dataplanes,
    }
    health = {ops: data_plane_status(ops) for ops in data_plane or []}
    if health:
        report["health"] = health
    if emit_data(report, output):
        return
    stdout.print(
        f"cluster [bold]{name}[/bold] at {report['url']}: revision {report['revision']}, "
        f"{len(routes)} routes, {len(policies)} security policies"
    )
    if report["error"]:
        stdout.print(f"[red]not served:[/red] {report['error']}", highlight=False)
    if routes:
        routes_table(routes)
    if policies:
        security_table(policies)
    if dataplanes:
        dataplanes_table(dataplanes)
    else:
        stdout.print("no data plane has connected yet")
    asked = {state.get("node") for state in health.values()}  # shown below, from their ops
    for plane in dataplanes:
        if plane.get("targets") and plane["nodeId"] not in asked:
            health_table(
                plane["nodeId"],
                {
                    "node": plane["nodeId"],
                    "version": plane["appliedVersion"],
                    "targets": plane["targets"],
                },
            )
    for ops, state in health.items():
        health_table(ops, state)


@app.command()
@reports_errors
def usage(
    consumer: Annotated[str | None, typer.Option("--consumer", help="only this consumer")] = None,
    model: Annotated[str | None, typer.Option("--model", help="only this model")] = None,
    window: Annotated[
        str, typer.Option("--window", help="how far back: 10s to 1h, like 30s, 5m, 1h")
    ] = "1h",
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Tokens and cost per consumer and model, from every data plane."""
    answer = cluster_client(cluster, url).usage(consumer, model, window)
    if emit_data(answer, output):
        return
    usage_table(answer)


@app.command()
@reports_errors
def metrics(
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="one route, by path (like /chat) or name")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="latency, traffic, errors or tokens (per model); the first three when absent",
        ),
    ] = None,
    window: Annotated[
        str, typer.Option("--window", help="how far back: 10s to 1h, like 30s, 5m, 1h")
    ] = "5m",
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Fleet metrics: p50/p90/p99 latency, request rate and errors per route, from every data plane."""
    answer = cluster_client(cluster, url).metrics(kind.lower() if kind else None, endpoint, window)
    if emit_data(answer, output):
        return
    if answer["type"] == "tokens":
        tokens_table(answer)
        return
    if not answer["routes"]:
        stdout.print(
            f"no traffic reported in the last {answer['window']} "
            f"({answer['dataPlanes']} data plane(s) reporting)"
        )
        return
    metrics_tables(answer)


@app.command()
@reports_errors
def webhooks(
    limit: Annotated[int, typer.Option("--limit", help="how many, newest first")] = 20,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Recent events sent to the cluster's callback URL, and whether they were delivered."""
    events = cluster_client(cluster, url).webhooks(limit)
    if emit_data(events, output):
        return
    if events:
        webhooks_table(events)
    else:
        stdout.print("no webhook events (set callback: in the config file to get them)")


@app.command("config")
@reports_errors
def config_command(
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug, info, warning or error")
    ] = None,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show or change the data-plane settings of a cluster (applied without restarts)."""
    client = cluster_client(cluster, url)
    settings = client.set_log_level(log_level.lower()) if log_level else client.settings()
    if not emit_data(settings, output):
        for key, value in settings.items():
            stdout.print(f"{key}: {value}", highlight=False)


def _apply_to_a_new_cluster(
    admin_url: str, api_key: str, cluster: str, path: Path | None, document: dict[str, Any]
) -> None:
    """``up --config`` sets a cluster up once: after a restart, what the user changed stays."""
    client = gateway(url=admin_url, api_key=api_key)
    try:
        revision = next(c["revision"] for c in client.clusters() if c["name"] == cluster)
        if revision:
            stdout.print(
                f"cluster {cluster} already has a configuration (revision {revision}); "
                f"{path} was not applied (to replace what is there: ai-gateway-cli apply -f {path})",
                highlight=False,
            )
            return
        result = client.connect(cluster).apply(document)
    except GatewayError as error:
        raise fail(f"{path}: {error_message(error)}") from None
    diff_lines(result)


@app.command()
def up(
    config: Annotated[
        Path | None, typer.Option("--config", help="config file to apply once up")
    ] = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="cluster (default: the file's, else 'default')")
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="also run a demo model service (see --demo-listen)")
    ] = False,
    demo_listen: Annotated[
        str, typer.Option("--demo-listen", help="the demo model service's address")
    ] = "127.0.0.1:8000",
    listen: Annotated[
        str, typer.Option("--listen", help="proxy listener (0.0.0.0:8080 to serve other hosts)")
    ] = "127.0.0.1:8080",
    admin_listen: Annotated[
        str, typer.Option("--admin-listen", help="REST admin API")
    ] = "127.0.0.1:8081",
    grpc_listen: Annotated[
        str, typer.Option("--grpc-listen", help="control-plane gRPC")
    ] = "127.0.0.1:50051",
    ops_listen: Annotated[
        str, typer.Option("--ops-listen", help="/healthz, /readyz, /metrics")
    ] = "127.0.0.1:9901",
    database_url: Annotated[
        str, typer.Option("--database-url", envvar="AI_GATEWAY_DATABASE_URL")
    ] = "sqlite+aiosqlite:///./ai-gateway.db",
    cache_dir: Annotated[
        str, typer.Option("--cache-dir", help="data-plane snapshot cache")
    ] = ".ai-gateway/cache",
) -> None:
    """Run a control plane (SQLite) and a data plane together on this machine, until Ctrl-C."""
    from cli.up import StartFailed, UpOptions, running, wait_for_exit

    document = read_config_file(config) if config is not None else None
    name = cluster or (document or {}).get("cluster") or "default"
    try:
        api_key = resolve_key(None)
    except ValueError:
        raise fail(MISSING_KEY) from None
    options = UpOptions(
        cluster=str(name),
        api_key=api_key,
        listen=listen,
        admin_listen=admin_listen,
        grpc_listen=grpc_listen,
        ops_listen=ops_listen,
        database_url=database_url,
        cache_dir=cache_dir,
        demo=demo,
        demo_listen=demo_listen,
    )
    try:
        with running(options) as children:
            admin_url = "http://" + admin_listen.replace("0.0.0.0", "127.0.0.1")
            if document is not None:
                _apply_to_a_new_cluster(admin_url, api_key, options.cluster, config, document)
            proxy = "http://" + listen.replace("0.0.0.0", "localhost")
            saved = SavedContext.load()
            if saved.url is None and saved.cluster is None:
                # A first run: the product's CLI examples then work as written, as after init.
                SavedContext(url=admin_url, cluster=options.cluster, config=saved.config).save()
            stdout.print(
                f"ai-gateway is up: traffic {proxy}, admin API {admin_url}/api/v1 "
                f"(also {proxy}/api/v1), cluster {options.cluster}. Ctrl-C stops it.\n"
                f"  export AI_GATEWAY_URL={admin_url} AI_GATEWAY_CLUSTER={options.cluster}",
                highlight=False,
            )
            code = wait_for_exit(children)
    except StartFailed as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
