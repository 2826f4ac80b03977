"""Path normalisation and route precedence, on compiled objects without servers."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict

from data_plane.errors import SnapshotRejected, UnsafePath
from data_plane.runtime.compile import compile_route, compile_snapshot
from data_plane.runtime.path import normalise_path
from data_plane.runtime.regex import LinearRegex
from data_plane.runtime.routes import MethodNotAllowed, RouteMatch, RouteTable
from protos import snapshot_pb2 as pb

KINDS = {"prefix": pb.PathMatch.PREFIX, "exact": pb.PathMatch.EXACT, "regex": pb.PathMatch.REGEX}


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/predict", "/predict"),
        ("/a//b", "/a/b"),
        ("//predict", "/predict"),
        ("/a/./b", "/a/b"),
        ("/a/x/../b", "/a/b"),
        ("/predict/%2e%2e/admin", "/admin"),
        ("/%2E%2E/%2e%2e/admin", "/admin"),
        ("/../../etc", "/etc"),
        ("/%70redict", "/predict"),
        ("/a/", "/a/"),
        ("/a/b/..", "/a/"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/", "/"),
    ],
)
def test_normalisation(raw: str, normal: str) -> None:
    assert normalise_path(raw) == normal


@pytest.mark.parametrize(
    "raw", ["/a%2Fb", "/a%2fb", "/a%5Cb", "/a\\b", "/a%00b", "/a%zz", "predict"]
)
def test_unsafe_paths_are_refused(raw: str) -> None:
    with pytest.raises(UnsafePath):
        normalise_path(raw)


def route(name: str, path: str, kind: str = "prefix", **fields: Any) -> pb.Route:
    return pb.Route(
        id=name,
        name=name,
        path=pb.PathMatch(kind=KINDS[kind], value=path),
        targets=[pb.Target(url=f"http://{name}:80", weight=1)],
        **fields,
    )


def table(*routes: pb.Route) -> RouteTable:
    return compile_snapshot(pb.Snapshot(cluster="c", version="v1", routes=list(routes))).routes


def matched(
    routes: RouteTable, path: str, method: str = "GET", host: str = "gw", **headers: str
) -> str | None:
    found = routes.match(path, method, CIMultiDict(headers), host)
    if isinstance(found, RouteMatch):
        return found.route.name
    return "405" if isinstance(found, MethodNotAllowed) else None


def test_prefix_matches_by_segment() -> None:
    routes = table(route("predict", "/predict"))
    assert matched(routes, "/predict") == "predict"
    assert matched(routes, "/predict/") == "predict"
    assert matched(routes, "/predict/x/y") == "predict"
    assert matched(routes, "/predictions") is None
    assert matched(routes, "/PREDICT") is None


def test_precedence_exact_then_longest_prefix_then_regex() -> None:
    routes = table(
        route("regex", r"/v1/.*", "regex"),
        route("root", "/"),
        route("v1", "/v1"),
        route("chat", "/v1/chat"),
        route("exact", "/v1/chat/completions", "exact"),
    )
    assert matched(routes, "/v1/chat/completions") == "exact"
    assert matched(routes, "/v1/chat/other") == "chat"
    assert matched(routes, "/v1/models") == "v1"
    assert matched(routes, "/other") == "root"
    regex_only = table(route("first", r"/m/.*", "regex"), route("second", r"/m/x", "regex"))
    assert matched(regex_only, "/m/x") == "first", "regexes match in declared order"


def test_methods_headers_and_hosts() -> None:
    routes = table(
        route("post", "/predict", methods=["POST"]),
        route(
            "llama",
            "/chat",
            headers=[pb.HeaderMatch(name="x-model", kind=pb.HeaderMatch.EXACT, value="llama")],
        ),
        route("any-model", "/chat"),
        route("internal", "/admin", hosts=["*.internal"]),
    )
    assert matched(routes, "/predict", "POST") == "post"
    assert matched(routes, "/predict", "GET") == "405"
    assert matched(routes, "/chat", **{"X-Model": "llama"}) == "llama"
    assert matched(routes, "/chat", **{"X-Model": "gpt"}) == "any-model"
    assert matched(routes, "/admin", host="api.internal:8080") == "internal"
    assert matched(routes, "/admin", host="example.com") is None


def test_strip_and_rewrite_prefix() -> None:
    stripped = compile_route(route("s", "/openai", strip_prefix=True))
    assert stripped.upstream_path("/openai/v1/chat") == "/v1/chat"
    assert stripped.upstream_path("/openai") == "/"
    rewritten = compile_route(route("r", "/llm", rewrite_prefix="/v1"))
    assert rewritten.upstream_path("/llm/chat/completions") == "/v1/chat/completions"


def test_a_bad_snapshot_is_rejected_with_the_reason() -> None:
    with pytest.raises(SnapshotRejected, match="route bad: invalid regex"):
        table(route("bad", "(", "regex"))
    with pytest.raises(SnapshotRejected, match="no targets"):
        compile_snapshot(
            pb.Snapshot(version="v", routes=[pb.Route(name="t", path=pb.PathMatch(value="/t"))])
        )


def test_ten_thousand_routes_compile_to_lookups() -> None:
    routes = table(*(route(f"r{i}", f"/model-{i}/predict") for i in range(10_000)))
    assert routes.count == 10_000
    assert matched(routes, "/model-9999/predict/x") == "r9999"


class CountingRegex:
    """A compiled route regex that counts how often it is tried."""

    def __init__(self, inner: LinearRegex) -> None:
        self.inner = inner
        self.pattern = inner.pattern
        self.calls = 0

    def fullmatch(self, text: str) -> object | None:
        self.calls += 1
        return self.inner.fullmatch(text)


def test_regex_routes_are_tried_only_when_nothing_more_specific_matched() -> None:
    routes = table(
        route("exact", "/v1/models", "exact"),
        route("prefix", "/v1/chat"),
        *(route(f"r{i}", f"^/re{i}/.*", "regex") for i in range(200)),
    )
    counters = []
    for compiled in routes.regex:
        assert compiled.regex is not None
        counting = CountingRegex(compiled.regex)
        object.__setattr__(compiled, "regex", counting)
        counters.append(counting)
    assert matched(routes, "/v1/models") == "exact"
    assert matched(routes, "/v1/chat/completions") == "prefix"
    assert sum(c.calls for c in counters) == 0
    assert matched(routes, "/re7/x") == "r7"
    assert sum(c.calls for c in counters) == 8  # r0..r7, then it stops
