"""``ai-gateway-cli history`` and ``rollback``: the kept revisions of a cluster's document."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.output import Output, diff_lines, emit_data, stdout, table
from cli.routes import OutputOption
from cli.session import ClusterOption, UrlOption, cluster_client, reports_errors


@reports_errors
def history(
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """The kept revisions, newest first: when, by which admin key, from where, what changed."""
    entries = cluster_client(cluster, url).history()
    if emit_data(entries, output):
        return
    table(
        None,
        ["REVISION", "WHEN", "BY", "FROM", "WHAT", "ROUTES", "POLICIES"],
        [
            (e["revision"], e["createdAt"], e["actor"], e["address"] or "-", e["action"],
             e["routes"], e["policies"])
            for e in entries
        ],
    )  # fmt: skip


@reports_errors
def rollback(
    to: Annotated[int, typer.Option("--to", help="the revision to go back to (see history)")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show the difference, change nothing")
    ] = False,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Make the cluster hold revision N's document again, as a new revision."""
    result = cluster_client(cluster, url).rollback(to, dry_run=dry_run)
    if emit_data(result, output):
        return
    diff_lines(result)
    if dry_run:
        stdout.print("dry run: nothing changed", highlight=False)
    elif result["applied"]:
        stdout.print(
            f"rolled back to revision {to}: revision {result['revision']}", highlight=False
        )
    else:
        stdout.print(f"the cluster already holds revision {to}'s document", highlight=False)
