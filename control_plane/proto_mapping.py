"""Config models <-> protobuf messages: the one place the two shapes meet.

The snapshot builder and the gRPC Admin service both go through here, so a
route means the same thing on every path.
"""

from __future__ import annotations

from typing import Any

from control_plane.domain.identity import JwtProviderSpec
from control_plane.domain.route import REDACTED, HeaderMatchSpec, RouteSpec, TargetSpec
from control_plane.domain.security import BudgetSpec, SecuritySpec
from protos import snapshot_pb2 as pb

_PATH_KINDS = {
    "prefix": pb.PathMatch.PREFIX,
    "exact": pb.PathMatch.EXACT,
    "regex": pb.PathMatch.REGEX,
}
_PATH_NAMES = {v: k for k, v in _PATH_KINDS.items()}
_AUTH = {
    "none": pb.SecurityPolicy.NONE,
    "jwt": pb.SecurityPolicy.JWT,
    "api-key": pb.SecurityPolicy.API_KEY,
}
_AUTH_NAMES = {v: k for k, v in _AUTH.items()}


def _header_to_proto(header: HeaderMatchSpec) -> pb.HeaderMatch:
    kind = {"exact": pb.HeaderMatch.EXACT, "regex": pb.HeaderMatch.REGEX}.get(
        header.kind, pb.HeaderMatch.PRESENT
    )
    value = header.value if header.value is not None else (header.regex or "")
    return pb.HeaderMatch(name=header.name, kind=kind, value=value, invert=header.invert)


def _target_to_proto(target: TargetSpec, reveal: bool) -> pb.Target:
    auth = None
    if target.auth is not None:
        shown = target.auth.value if reveal or not target.auth.is_stored_secret else REDACTED
        auth = pb.TargetAuth(header=target.auth.header, value=shown)
    return pb.Target(
        url=target.url,
        weight=target.weight,
        priority=target.priority,
        model=target.model or "",
        auth=auth,
        context_window=target.context_window or 0,
    )


def route_to_proto(
    spec: RouteSpec, *, route_id: str = "", name: str = "", reveal_secrets: bool = False
) -> pb.Route:
    """``reveal_secrets``: only for the snapshot, which carries stored credentials to the data
    planes; the Admin API shows ``<redacted>``."""
    outlier, breaker = spec.outlier_detection, spec.circuit_breaker
    return pb.Route(
        id=route_id,
        name=name or spec.effective_name,
        path=pb.PathMatch(kind=_PATH_KINDS[spec.match], value=spec.path),
        methods=list(spec.methods),
        headers=[_header_to_proto(h) for h in spec.headers],
        hosts=list(spec.hosts),
        targets=[_target_to_proto(t, reveal_secrets) for t in spec.targets],
        models=list(spec.models),
        fallbacks=[
            pb.Fallback(
                model=f.model or "",
                target=_target_to_proto(f.target, reveal_secrets) if f.target else None,
            )
            for f in spec.fallbacks
        ],
        fallback_on=list(spec.fallback_on),
        strip_prefix=spec.strip_prefix,
        rewrite_prefix=spec.rewrite_prefix or "",
        timeouts=pb.Timeouts(
            connect_seconds=spec.timeouts.connect,
            first_byte_seconds=spec.timeouts.first_byte,
            idle_seconds=spec.timeouts.idle,
            total_seconds=spec.timeouts.total,
        ),
        load_balancer=spec.load_balancer,
        hash_on=spec.hash_on or "",
        least_loaded=pb.LeastLoaded(
            metrics_path=spec.least_loaded.metrics_path,
            scrape_interval_seconds=spec.least_loaded.scrape_interval,
            prefix_affinity=spec.least_loaded.prefix_affinity,
        )
        if spec.least_loaded
        else None,
        health_check=pb.HealthCheck(
            path=spec.health_check.path,
            interval_seconds=spec.health_check.interval,
            timeout_seconds=spec.health_check.timeout,
            healthy_threshold=spec.health_check.healthy_threshold,
            unhealthy_threshold=spec.health_check.unhealthy_threshold,
            expected_statuses=list(spec.health_check.expected_statuses),
        )
        if spec.health_check
        else None,
        retry=pb.RetryPolicy(
            attempts=spec.retries.attempts,
            on_statuses=list(spec.retries.on_statuses),
            per_try_timeout_seconds=spec.retries.per_try_timeout or 0.0,
        ),
        outlier_detection=pb.OutlierDetection(
            consecutive_failures=outlier.consecutive_failures or 0,
            base_ejection_seconds=outlier.base_ejection or 0.0,
            max_ejection_seconds=outlier.max_ejection or 0.0,
            max_ejection_percent=outlier.max_ejection_percent or 0,
        ),
        circuit_breaker=pb.CircuitBreaker(
            max_connections=breaker.max_connections or 0,
            max_pending_requests=breaker.max_pending_requests,
            max_requests=breaker.max_requests or 0,
        ),
    )


def route_from_proto(route: pb.Route) -> dict[str, Any]:
    """A gRPC Admin request's route as the document RouteSpec validates (unset = default)."""
    document: dict[str, Any] = {
        "path": route.path.value,
        "match": _PATH_NAMES.get(route.path.kind, "prefix"),
        "methods": list(route.methods),
        "hosts": list(route.hosts),
        "targets": [_target_from_proto(t) for t in route.targets],
        "stripPrefix": route.strip_prefix,
    }
    if route.name:
        document["name"] = route.name
    if route.models:
        document["models"] = list(route.models)
    if route.fallbacks:
        document["fallbacks"] = [
            {
                **({"model": f.model} if f.model else {}),
                **({"target": _target_from_proto(f.target)} if f.HasField("target") else {}),
            }
            for f in route.fallbacks
        ]
    if route.fallback_on:
        document["fallbackOn"] = list(route.fallback_on)
    if route.headers:
        document["headers"] = [_header_from_proto(h) for h in route.headers]
    if route.rewrite_prefix:
        document["rewritePrefix"] = route.rewrite_prefix
    if route.load_balancer:
        document["loadBalancer"] = route.load_balancer
    if route.hash_on:
        document["hashOn"] = route.hash_on
    if route.HasField("least_loaded"):
        least = route.least_loaded
        document["leastLoaded"] = {
            **({"metricsPath": least.metrics_path} if least.metrics_path else {}),
            **({"scrapeInterval": least.scrape_interval_seconds}
               if least.scrape_interval_seconds else {}),
            "prefixAffinity": least.prefix_affinity,
        }  # fmt: skip
    if route.HasField("health_check") and route.health_check.path:
        check = route.health_check
        document["healthCheck"] = {
            "path": check.path,
            **({"interval": check.interval_seconds} if check.interval_seconds else {}),
            **({"timeout": check.timeout_seconds} if check.timeout_seconds else {}),
            **({"healthyThreshold": check.healthy_threshold} if check.healthy_threshold else {}),
            **(
                {"unhealthyThreshold": check.unhealthy_threshold}
                if check.unhealthy_threshold
                else {}
            ),
            **(
                {"expectedStatuses": list(check.expected_statuses)}
                if check.expected_statuses
                else {}
            ),
        }
    if route.HasField("retry") and route.retry.attempts:
        retries: dict[str, Any] = {"attempts": route.retry.attempts}
        if route.retry.on_statuses:
            retries["onStatuses"] = list(route.retry.on_statuses)
        if route.retry.per_try_timeout_seconds:
            retries["perTryTimeout"] = route.retry.per_try_timeout_seconds
        document["retries"] = retries
    if route.HasField("timeouts"):
        timeouts = {
            "connect": route.timeouts.connect_seconds,
            "firstByte": route.timeouts.first_byte_seconds,
            "idle": route.timeouts.idle_seconds,
            "total": route.timeouts.total_seconds,
        }
        document["timeouts"] = {k: v for k, v in timeouts.items() if v}
    outlier = {
        "consecutiveFailures": route.outlier_detection.consecutive_failures,
        "baseEjection": route.outlier_detection.base_ejection_seconds,
        "maxEjection": route.outlier_detection.max_ejection_seconds,
        "maxEjectionPercent": route.outlier_detection.max_ejection_percent,
    }
    if any(outlier.values()):
        document["outlierDetection"] = {k: v for k, v in outlier.items() if v}
    breaker: dict[str, int] = {
        "maxConnections": route.circuit_breaker.max_connections,
        "maxRequests": route.circuit_breaker.max_requests,
    }
    breaker = {k: v for k, v in breaker.items() if v}
    if route.circuit_breaker.HasField("max_pending_requests"):  # 0 is a value here: no queue
        breaker["maxPendingRequests"] = route.circuit_breaker.max_pending_requests
    if breaker:
        document["circuitBreaker"] = breaker
    return document


def _target_from_proto(target: pb.Target) -> dict[str, Any]:
    document: dict[str, Any] = {
        "url": target.url,
        "weight": target.weight if target.weight else 1,
        "priority": target.priority,
    }
    if target.model:
        document["model"] = target.model
    if target.HasField("auth"):
        document["auth"] = {"header": target.auth.header, "value": target.auth.value}
    if target.context_window:
        document["contextWindow"] = target.context_window
    return document


def _header_from_proto(header: pb.HeaderMatch) -> dict[str, Any]:
    document: dict[str, Any] = {"name": header.name, "invert": header.invert}
    if header.kind == pb.HeaderMatch.REGEX:
        document["regex"] = header.value
    elif header.kind == pb.HeaderMatch.PRESENT:
        document["present"] = True
    else:
        document["value"] = header.value
    return document


def security_to_proto(spec: SecuritySpec, *, policy_id: str = "") -> pb.SecurityPolicy:
    policy = pb.SecurityPolicy(
        id=policy_id,
        endpoint=spec.endpoint,
        auth=_AUTH[spec.auth],
        jwt_providers=list(spec.jwt_providers),
    )
    if spec.rate_limit is not None:
        policy.rate_limit.CopyFrom(
            pb.RateLimit(
                requests=spec.rate_limit.requests,
                period_seconds=spec.rate_limit.period_seconds,
                scope="consumer",
            )
        )
    if spec.token_limit is not None:
        policy.token_limit.CopyFrom(
            pb.TokenLimit(
                tokens=spec.token_limit.tokens, period_seconds=spec.token_limit.period_seconds
            )
        )
    if spec.budget is not None:
        policy.budget.CopyFrom(budget_to_proto(spec.budget))
    policy.default_max_tokens = spec.default_max_tokens or 0
    policy.cut_when_exceeded = spec.on_exceeded == "cut"
    return policy


def budget_to_proto(budget: BudgetSpec) -> pb.Budget:
    return pb.Budget(
        usd=budget.usd or 0.0, tokens=budget.tokens or 0, per=budget.per, warn_at=budget.warn_at
    )


def security_from_proto(policy: pb.SecurityPolicy) -> dict[str, Any]:
    document: dict[str, Any] = {
        "endpoint": policy.endpoint,
        "auth": _AUTH_NAMES.get(policy.auth, "none"),
        "jwtProviders": list(policy.jwt_providers),
    }
    if policy.HasField("rate_limit"):
        document["rateLimit"] = {
            "requests": policy.rate_limit.requests,
            "periodSeconds": policy.rate_limit.period_seconds or 60.0,
        }
    if policy.HasField("token_limit"):
        document["tokenLimit"] = {
            "tokens": policy.token_limit.tokens,
            "periodSeconds": policy.token_limit.period_seconds or 60.0,
        }
    if policy.HasField("budget"):
        budget = policy.budget
        document["budget"] = {"per": budget.per or "month"}
        if budget.warn_at:  # unset: the default share
            document["budget"]["warnAt"] = budget.warn_at
        document["budget"].update({"usd": budget.usd} if budget.usd else {"tokens": budget.tokens})
    if policy.default_max_tokens:
        document["defaultMaxTokens"] = policy.default_max_tokens
    if policy.cut_when_exceeded:
        document["onExceeded"] = "cut"
    return document


def jwt_provider_to_proto(spec: JwtProviderSpec) -> pb.JwtProvider:
    return pb.JwtProvider(
        name=spec.name,
        issuer=spec.issuer or "",
        audiences=list(spec.audiences),
        algorithms=list(spec.algorithms),
        hmac_secret=(spec.secret or "").encode(),
        public_key_pem=spec.public_key or "",
        jwks_url=spec.jwks_url or "",
        consumer_claim=spec.consumer_claim,
        leeway_seconds=spec.leeway,
        required_claims=list(spec.required_claims),
    )


def jwt_provider_from_proto(provider: pb.JwtProvider) -> dict[str, Any]:
    """A gRPC Admin request's provider as the document JwtProviderSpec validates."""
    document: dict[str, Any] = {
        "name": provider.name,
        "audiences": list(provider.audiences),
        "algorithms": list(provider.algorithms),
        "consumerClaim": provider.consumer_claim or "sub",
    }
    optional = {
        "issuer": provider.issuer,
        "secret": provider.hmac_secret.decode("utf-8", "replace"),
        "publicKey": provider.public_key_pem,
        "jwksUrl": provider.jwks_url,
    }
    document.update({k: v for k, v in optional.items() if v})
    if provider.leeway_seconds:
        document["leeway"] = provider.leeway_seconds
    if provider.required_claims:
        document["requiredClaims"] = list(provider.required_claims)
    return document
