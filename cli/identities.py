"""``ai-gateway-cli keys create|list|revoke`` and ``jwt set|list|delete``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import Output, emit_data, stdout, table
from cli.routes import OutputOption
from cli.session import ClusterOption, UrlOption, cluster_client, fail, reports_errors

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
jwt_app = typer.Typer(help="Manage the JWT issuers the gateway trusts.", no_args_is_help=True)


@keys_app.command("create")
@reports_errors
def create_key(
    consumer: Annotated[
        str, typer.Option("--consumer", help="who the key is for (created if missing)")
    ],
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="like 30d, 12h, 15m")
    ] = None,
    route: Annotated[
        list[str] | None, typer.Option("--route", help="limit the key to this route; repeat")
    ] = None,
    cluster: ClusterOption = None,
    url: UrlOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Create an API key. It is shown once: store it now."""
    created = cluster_client(cluster, url).create_key(consumer, expires_in=expires_in, routes=route)
    if not emit_data(created, output):
        stdout.print(
            f"API key for {created['consumer']} (id {created['id']}); shown only now:",
            highlight=False,
        )
        stdout.print(created["key"], highlight=False, markup=False)


@keys_app.command("list")
@reports_errors
def list_keys(
    cluster: ClusterOption = None, url: UrlOption = None, output: OutputOption = Output.table
) -> None:
    """List API keys by prefix (the keys themselves are not stored)."""
    keys = cluster_client(cluster, url).list_keys()
    if not emit_data(keys, output):
        table(
            None,
            ["ID", "CONSUMER", "PREFIX", "EXPIRES", "ROUTES"],
            [
                (
                    k["id"],
                    k["consumer"],
                    k["prefix"] + "...",
                    k["expiresAt"] or "never",
                    ",".join(k["routes"]) or "*",
                )
                for k in keys
            ],
        )


@keys_app.command("revoke")
@reports_errors
def revoke_key(key_id: str, cluster: ClusterOption = None, url: UrlOption = None) -> None:
    """Revoke a key; every data plane refuses it within a second."""
    result = cluster_client(cluster, url).revoke_key(key_id)
    stdout.print(f"revoked {key_id} (revision {result['revision']})", highlight=False)


@jwt_app.command("set")
@reports_errors
def set_provider(
    name: str,
    algorithm: Annotated[
        list[str], typer.Option("--algorithm", help="allowed algorithm, e.g. RS256; repeat")
    ],
    issuer: Annotated[str | None, typer.Option("--issuer", help="required iss")] = None,
    audience: Annotated[
        list[str] | None, typer.Option("--audience", help="accepted aud; repeat")
    ] = None,
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="HMAC secret (HS*)")
    ] = None,
    public_key_file: Annotated[
        Path | None, typer.Option("--public-key-file", help="PEM public key")
    ] = None,
    jwks_url: Annotated[
        str | None, typer.Option("--jwks-url", help="where the signing keys are published")
    ] = None,
    consumer_claim: Annotated[
        str, typer.Option("--consumer-claim", help="claim naming the caller")
    ] = "sub",
    cluster: ClusterOption = None,
    url: UrlOption = None,
) -> None:
    """Create or replace a JWT provider."""
    document: dict[str, Any] = {
        "algorithms": algorithm,
        "consumerClaim": consumer_claim,
        "audiences": audience or [],
    }
    for key, value in (("issuer", issuer), ("jwksUrl", jwks_url)):
        if value is not None:
            document[key] = value
    try:
        if secret_file is not None:
            document["secret"] = secret_file.read_text().strip()
        if public_key_file is not None:
            document["publicKey"] = public_key_file.read_text()
    except OSError as exc:
        raise fail(f"cannot read {exc.filename}: {exc.strerror}") from None
    provider = cluster_client(cluster, url).put_jwt_provider(name, **document)
    stdout.print(
        f"JWT provider {provider['name']} set ({', '.join(provider['algorithms'])})",
        highlight=False,
    )


@jwt_app.command("list")
@reports_errors
def list_providers(
    cluster: ClusterOption = None, url: UrlOption = None, output: OutputOption = Output.table
) -> None:
    """List JWT providers (secrets are never shown)."""
    providers = cluster_client(cluster, url).list_jwt_providers()
    if not emit_data(providers, output):
        table(
            None,
            ["NAME", "ALGORITHMS", "ISSUER", "KEY"],
            [
                (
                    p["name"],
                    ",".join(p["algorithms"]),
                    p.get("issuer") or "-",
                    p.get("jwksUrl") or ("public key" if p.get("publicKey") else "secret"),
                )
                for p in providers
            ],
        )


@jwt_app.command("delete")
@reports_errors
def delete_provider(name: str, cluster: ClusterOption = None, url: UrlOption = None) -> None:
    """Delete a JWT provider."""
    result = cluster_client(cluster, url).delete_jwt_provider(name)
    stdout.print(f"deleted JWT provider {name} (revision {result['revision']})", highlight=False)
