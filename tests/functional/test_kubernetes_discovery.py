"""Pods annotated aimlops/gateway=true become backends, through a real control plane
watching a Kubernetes API emulator on a real socket and a real data plane."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.support.control_plane import ControlPlaneProcess
from tests.support.gateway import Gateway
from tests.support.kube_api import KubeApi, kube_api, pod


def port_of(gw: Gateway, name: str) -> int:
    return int(gw.upstreams[name].ready["port"])


def servers(gw: Gateway, path: str, count: int = 12) -> Counter[str]:
    """Which upstreams answer ``count`` requests (each must succeed)."""
    seen: Counter[str] = Counter()
    for _ in range(count):
        answer = httpx.get(gw.proxy_url() + path, timeout=5)
        assert answer.status_code == 200, answer.text
        seen[answer.json()["server"]] += 1
    return seen


def until_served_by(gw: Gateway, path: str, wanted: set[str], seconds: float = 10) -> float:
    """Wait until requests to ``path`` go to exactly ``wanted``; the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            if set(servers(gw, path, 8)) == wanted:
                return time.monotonic() - started
        except AssertionError:
            pass  # not routed yet (404)
        if time.monotonic() - started > seconds:
            logs = gw.control_plane.logs()[-3000:] if gw.control_plane else ""
            raise AssertionError(f"{path} is not served by {wanted}: {logs}")
        time.sleep(0.02)


class Traffic:
    """Requests in a loop while pods change: every one must succeed."""

    def __init__(self, url: str) -> None:
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url,))
        self._thread.start()

    def _run(self, url: str) -> None:
        with httpx.Client(timeout=5) as http:
            while not self._stop.is_set():
                self.statuses[http.get(url).status_code] += 1

    def stop(self) -> Counter[int]:
        self._stop.set()
        self._thread.join()
        return self.statuses


def start(gw: Gateway, api: KubeApi, *extra: str) -> None:
    gw.start_control_plane("--kubeconfig", str(api.kubeconfig(gw.workdir)),
                           "--kubernetes-cluster", gw.cluster, "--kubernetes-lease-seconds", "3",
                           *extra)  # fmt: skip
    gw.add_upstream("alpha")
    gw.add_upstream("beta")
    gw.add_data_plane("dp")


def test_an_annotated_ready_pod_serves_and_leaves_when_it_should(tmp_path: Path) -> None:
    with kube_api() as api:
        gw = Gateway(tmp_path)
        try:
            start(gw, api)
            alpha, beta = port_of(gw, "alpha"), port_of(gw, "beta")
            labels = {"app": "ai-pod"}
            # kubectl annotate pod ai-pod aimlops/gateway=true
            api.put(pod("ai-pod", alpha, labels=labels, gateway="true"))
            took = until_served_by(gw, "/ai-pod/echo", {"alpha"})
            assert took < 1.0, f"served {took:.2f} s after the watch event"
            assert httpx.get(gw.proxy_url() + "/ai-pod/echo").json()["path"] == "/echo"

            api.put(pod("ai-pod-2", beta, labels=labels, gateway="true"))
            until_served_by(gw, "/ai-pod/echo", {"alpha", "beta"})

            traffic = Traffic(gw.proxy_url() + "/ai-pod/echo")
            try:
                api.put(pod("ai-pod", alpha, labels=labels, ready=False, gateway="true"))
                until_served_by(gw, "/ai-pod/echo", {"beta"})
                api.put(pod("ai-pod", alpha, labels=labels, gateway="true"))
                until_served_by(gw, "/ai-pod/echo", {"alpha", "beta"})
                api.delete("ai-pod-2")
                until_served_by(gw, "/ai-pod/echo", {"alpha"})
                api.put(pod("ai-pod-2", beta, labels=labels, gateway="true"))
                api.put(pod("ai-pod", alpha, labels=labels))  # the annotation removed
                until_served_by(gw, "/ai-pod/echo", {"beta"})
            finally:
                statuses = traffic.stop()
            assert set(statuses) == {200} and statuses[200] > 20, statuses

            api.stop()  # the API server goes away: the last known pods keep serving
            assert servers(gw, "/ai-pod/echo") == Counter({"beta": 12})
            api.start()
            api.put(pod("ai-pod", alpha, labels=labels, gateway="true"))
            until_served_by(gw, "/ai-pod/echo", {"alpha", "beta"}, seconds=40)

            api.compact()  # the watch's version is gone: 410, then a fresh list
            api.delete("ai-pod-2")
            until_served_by(gw, "/ai-pod/echo", {"alpha"})
            assert any("allowwatchbookmarks=true" in r.lower() for r in api.requests)
        finally:
            gw.stop()


def test_discovered_backends_are_kept_apart_from_the_user_s_document(tmp_path: Path) -> None:
    with kube_api() as api:
        gw = Gateway(tmp_path)
        try:
            start(gw, api)
            alpha, beta = port_of(gw, "alpha"), port_of(gw, "beta")
            gw.add_route(name="chat", path="/chat", target=f"http://127.0.0.1:{alpha}",
                         stripPrefix=True)  # fmt: skip
            api.put(pod("helper", beta, gateway="true", gateway_route="chat"))
            api.put(pod("vllm-0", beta, gateway="true", gateway_path="/v1/models-a",
                        gateway_model="llama-3,llama-3.1", gateway_weight="3"))  # fmt: skip
            api.put(pod("lost", beta, gateway="true", gateway_route="nope"))
            api.put(pod("bad", beta, gateway="true", gateway_port="http"))
            until_served_by(gw, "/chat/echo", {"alpha", "beta"})
            with gw.admin() as http:
                listed = http.get("/api/v1/routes", params={"cluster": gw.cluster}).json()
            routes = {r["name"]: r for r in listed["routes"]}
            assert routes["chat"]["discoveredTargets"] == [
                {"pod": "models/helper", "url": f"http://127.0.0.1:{beta}"}
            ]
            assert "origin" not in routes["chat"]
            (made,) = [r for r in listed["routes"] if r.get("origin") == "kubernetes"]
            assert made["path"] == "/v1/models-a" and made["models"] == ["llama-3", "llama-3.1"]
            assert [(t["url"], t["weight"]) for t in made["targets"]] == [
                (f"http://127.0.0.1:{beta}", 3)
            ]
            assert [p["pod"] for p in listed["unplacedPods"]] == ["models/lost"]
            assert "models/bad" not in str(listed)  # a rejected pod is no backend at all
            assert gw.control_plane is not None
            logs = gw.control_plane.logs()
            assert "models/bad is not a backend: aimlops/gateway-port 'http': give a port" in logs

            exported = gw.cli("export", "--output", "json")
            assert "k8s-" not in exported and "helper" not in exported
            assert str(beta) not in exported  # no discovered target in the user's document
            gw.apply({"routes": [{"name": "chat", "path": "/chat", "stripPrefix": True,
                                  "target": f"http://127.0.0.1:{alpha}"}]})  # fmt: skip
            until_served_by(gw, "/chat/echo", {"alpha", "beta"})  # apply kept the pod
            printed = gw.cli("routes", "list")
            assert "(discovered)" in printed and "models/vllm-0" in printed, printed
            with gw.admin() as http:
                refused = http.delete(f"/api/v1/routes/{made['name']}",
                                      params={"cluster": gw.cluster})  # fmt: skip
            assert refused.status_code == 409 and "models/vllm-0" in refused.text
        finally:
            gw.stop()


def test_one_control_plane_watches_and_another_takes_over_when_it_stops(tmp_path: Path) -> None:
    with kube_api() as api:
        gw = Gateway(tmp_path)
        kube = ["--kubeconfig", str(api.kubeconfig(tmp_path)), "--kubernetes-cluster", gw.cluster,
                "--kubernetes-lease-seconds", "2"]  # fmt: skip
        first = ControlPlaneProcess(
            tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", gw.cluster,
            extra_args=kube,
        ).start()  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while not api.leases:
                assert time.monotonic() < deadline, first.logs()[-2000:]
                time.sleep(0.02)
            (lease,) = api.leases.values()
            holder = lease["spec"]["holderIdentity"]
            gw.start_control_plane(*kube)  # the data plane follows this one
            gw.add_upstream("alpha")
            gw.add_upstream("beta")
            gw.add_data_plane("dp")
            labels = {"app": "ai-pod"}
            api.put(pod("ai-pod", port_of(gw, "alpha"), labels=labels, gateway="true"))
            until_served_by(gw, "/ai-pod/echo", {"alpha"})
            assert gw.control_plane is not None
            assert "discovered backends stored" in first.logs()
            assert "discovered backends stored" not in gw.control_plane.logs()
            assert holder in first.logs() and holder not in gw.control_plane.logs()

            first.stop()  # gives the lease up: the other takes it at once
            assert "lease default/ai-gateway-discovery released" in first.logs()
            api.put(pod("ai-pod-2", port_of(gw, "beta"), labels=labels, gateway="true"))
            until_served_by(gw, "/ai-pod/echo", {"alpha", "beta"})
            (lease,) = api.leases.values()
            assert lease["spec"]["holderIdentity"] not in (None, holder)
            assert lease["spec"]["leaseTransitions"] == 1
            assert "discovered backends stored" in gw.control_plane.logs()
        finally:
            first.stop()
            gw.stop()
