"""A hostname target that resolves to several addresses: each address is a target of its own."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx

from tests.support.dns_server import DnsServer
from tests.support.gateway import Gateway
from tests.support.processes import ChildProcess, free_port, upstream


def servers_answering(gw: Gateway, count: int, port: int) -> Counter[str]:
    answers = [httpx.get(gw.proxy_url() + "/dns").json() for _ in range(count)]
    assert {a["headers"]["Host"] for a in answers} == {f"models.test:{port}"}, "Host is the name"
    return Counter(a["server"] for a in answers)


def unresolved_then_refreshed(
    plane: ChildProcess, dns: DnsServer, target: str, deadline: float
) -> dict[str, str]:
    """Wait until ``target`` shows as unresolved in /readyz, then for five more lookups (the
    refreshes go on); the targets' states."""
    ops = f"http://127.0.0.1:{plane.ready['ops_port']}/readyz"
    while True:
        states = {t["target"]: t["state"] for t in httpx.get(ops).json()["targets"]}
        if states.get(target) == "unresolved":
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.05)
    asked = dns.queries + 5
    while dns.queries < asked:
        assert time.monotonic() < deadline + 10
        time.sleep(0.05)
    return states


def test_each_address_of_a_hostname_is_a_target_and_is_re_resolved(tmp_path: Path) -> None:
    port = free_port("127.0.0.2")
    gw = Gateway(tmp_path)
    with DnsServer() as dns:
        try:
            for name, address in (("pod-a", "127.0.0.2"), ("pod-b", "127.0.0.3")):
                process = upstream(tmp_path, name, "--host", address, "--port", str(port))
                gw.upstreams[name] = process.start()
            dns.records["models.test"] = ["127.0.0.2"]
            gw.start_control_plane()
            resolver = ("--dns-resolver", f"127.0.0.1:{dns.port}", "--dns-refresh-seconds", "0.2")
            plane = gw.add_data_plane("dp", *resolver)
            gw.add_route(path="/dns", target=f"http://models.test:{port}")
            deadline = time.monotonic() + 5
            while servers_answering(gw, 1, port) != {"pod-a": 1}:
                assert time.monotonic() < deadline

            dns.records["models.test"] = ["127.0.0.2", "127.0.0.3"]  # a pod scaled up
            deadline = time.monotonic() + 5
            while set(servers_answering(gw, 4, port)) != {"pod-a", "pod-b"}:
                assert time.monotonic() < deadline, "the new address never became a target"
            assert servers_answering(gw, 10, port) == {"pod-a": 5, "pod-b": 5}
            ready = httpx.get(f"http://127.0.0.1:{plane.ready['ops_port']}/readyz").json()
            shown = {t["target"] for t in ready["targets"]}
            assert {f"http://127.0.0.2:{port}", f"http://127.0.0.3:{port}"} <= shown

            dns.records["models.test"] = ["127.0.0.3"]  # and the first one went away
            deadline = time.monotonic() + 5
            while servers_answering(gw, 4, port) != {"pod-b": 4}:
                assert time.monotonic() < deadline, "a removed address kept its traffic"
            ready = httpx.get(f"http://127.0.0.1:{plane.ready['ops_port']}/readyz").json()
            shown = {t["target"] for t in ready["targets"]}
            assert f"http://127.0.0.2:{port}" not in shown, "a gone address is forgotten"
            metrics = httpx.get(f"http://127.0.0.1:{plane.ready['ops_port']}/metrics").text
            assert f'target="http://127.0.0.3:{port}"' in metrics
            assert f'target="http://127.0.0.2:{port}"' not in metrics, "and so are its series"
        finally:
            gw.stop()


def test_a_name_that_does_not_resolve_is_shown_as_such_and_warned_of_once(tmp_path: Path) -> None:
    port = free_port("127.0.0.2")
    gw = Gateway(tmp_path)
    with DnsServer() as dns:
        try:
            gw.start_control_plane()
            resolver = ("--dns-resolver", f"127.0.0.1:{dns.port}", "--dns-refresh-seconds", "0.1")
            plane = gw.add_data_plane("dp", *resolver)
            gw.add_route(path="/nowhere", target=f"http://missing.test:{port}")
            deadline = time.monotonic() + 5
            unresolved_then_refreshed(plane, dns, f"http://missing.test:{port}", deadline)
            assert plane.logs().count("cannot resolve target host missing.test") == 1

            late = upstream(tmp_path, "late", "--host", "127.0.0.2", "--port", str(port))
            gw.upstreams["late"] = late.start()
            dns.records["missing.test"] = ["127.0.0.2"]  # it comes up
            deadline = time.monotonic() + 5
            while httpx.get(gw.proxy_url() + "/nowhere/echo").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert "target host missing.test resolves to 127.0.0.2" in plane.logs()
        finally:
            gw.stop()


def test_connect_to_sends_a_name_to_an_address_and_never_looks_it_up(tmp_path: Path) -> None:
    """``--connect-to`` (what ``up --demo`` gives the product's service names): the backend
    sees the URL's Host and the name is not asked of any DNS server, while other names are."""
    port = free_port("127.0.0.2")
    gw = Gateway(tmp_path)
    with DnsServer() as dns:
        try:
            process = upstream(tmp_path, "pinned", "--host", "127.0.0.2", "--port", str(port))
            gw.upstreams["pinned"] = process.start()
            gw.start_control_plane()
            plane = gw.add_data_plane(
                "dp",
                "--dns-resolver", f"127.0.0.1:{dns.port}", "--dns-refresh-seconds", "0.1",
                "--connect-to", f"ai-service:8080:127.0.0.2:{port}",
            )  # fmt: skip
            gw.add_route(path="/dns", target="http://ai-service:8080")
            gw.add_route(path="/other", target="http://other.test:9090")
            deadline = time.monotonic() + 5
            while (answer := httpx.get(gw.proxy_url() + "/dns")).status_code != 200:
                assert time.monotonic() < deadline, answer.text
                time.sleep(0.05)
            assert answer.json()["headers"]["Host"] == "ai-service:8080"
            states = unresolved_then_refreshed(plane, dns, "http://other.test:9090", deadline)
            assert states[f"http://127.0.0.2:{port}"] == "healthy"
            assert dns.asked == {"other.test"}
            assert "ai-service" not in plane.logs()
        finally:
            gw.stop()
