"""``ai-gateway-cli apply``, ``diff`` and ``export``: the cluster as one document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from ai_gateway import GatewayError
from ai_gateway.calls import load_document
from ai_gateway.context import SavedContext
from cli.output import Output, diff_lines, emit_data, stderr, stdout
from cli.routes import OutputOption
from cli.session import (
    ClusterOption,
    UrlOption,
    cluster_client,
    error_message,
    fail,
    reports_errors,
)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        return load_document(path)
    except OSError as exc:
        raise fail(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise fail(f"config file {path} is not valid YAML: {exc}") from None
    except ValueError as exc:
        raise fail(f"config file {path}: {exc}") from None


def config_source(file: Path | None) -> Path:
    if file is not None:
        return file
    saved = SavedContext.load().config
    if saved is None:
        raise fail("no config file: pass -f FILE, or run ai-gateway-cli init --config FILE first")
    return Path(saved)


FileOption = Annotated[Path | None, typer.Option("--file", "-f", help="YAML/JSON config document")]


SelectTagOption = Annotated[
    list[str] | None,
    typer.Option(
        "--select-tag",
        help="manage only the routes and policies with this tag (others' stay); repeat",
    ),
]


@reports_errors
def apply(
    file: FileOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show the changes, apply nothing")
    ] = False,
    select_tag: SelectTagOption = None,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Make the cluster hold exactly the config file (from init --config, or -f)."""
    document = read_config_file(config_source(file))
    target = cluster or document.get("cluster")
    result = cluster_client(target if isinstance(target, str) else None, url).apply(
        document, dry_run=dry_run, select_tags=select_tag or ()
    )
    for warning in result.get("warnings") or []:
        stderr.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if emit_data(result, output):
        return
    diff_lines(result)
    if dry_run:
        stdout.print("dry run: nothing applied", highlight=False)
    elif result["applied"]:
        stdout.print(f"applied: revision {result['revision']}", highlight=False)


def diff(
    file: FileOption = None,
    select_tag: SelectTagOption = None,
    revision: Annotated[
        int | None,
        typer.Option("--revision", help="compare this kept revision (see history) instead"),
    ] = None,
    to: Annotated[
        int | None, typer.Option("--to", help="with --revision: to this one (default: now)")
    ] = None,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show what apply would change (--revision N [--to M]: what changed since revision N).
    Exit 0: no changes, 1: changes, 2: error (like kubectl diff)."""
    try:
        if revision is not None:
            result = cluster_client(cluster, url).revision_diff(revision, to)
        elif to is not None:
            raise fail("--to compares with --revision N; give both", code=2)
        else:
            document = read_config_file(config_source(file))
            target = cluster or document.get("cluster")
            client = cluster_client(target if isinstance(target, str) else None, url)
            result = client.diff(document, select_tags=select_tag or ())
    except typer.Exit:
        raise typer.Exit(2) from None
    except GatewayError as error:
        raise fail(error_message(error), code=2) from None
    except ValueError as error:
        raise fail(str(error), code=2) from None
    if not emit_data(result, output):
        diff_lines(result)
    raise typer.Exit(1 if result["changes"] else 0)


@reports_errors
def export(
    select_tag: SelectTagOption = None,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.yaml,
) -> None:
    """Print the cluster's configuration as a document apply accepts (--select-tag: the
    routes and policies with the tags, for apply --select-tag)."""
    document = cluster_client(cluster, url).export(select_tags=select_tag or ())
    emit_data(document, Output.json if output is Output.json else Output.yaml)
