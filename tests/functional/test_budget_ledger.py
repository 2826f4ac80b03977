"""Budgets kept beyond Redis and a data plane's memory: the control plane's ledger, seeded
back into a flushed Redis or a restarted data plane, and the budget webhooks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.support.gateway import Gateway
from tests.support.model_server import PROMPT_TOKENS
from tests.support.services import private_redis, redis_command
from tests.support.token_requests import body_reserving, ledger_spent, post
from tests.support.webhooks import receiver


def test_a_budget_sends_its_warning_and_exceeded_webhooks_once(tmp_path: Path) -> None:
    with receiver() as hooks:
        gw = Gateway(tmp_path)
        try:
            gw.start_control_plane("--telemetry-interval", "0.5")
            backend = gw.add_model_server("model")
            gw.add_data_plane("dp-a")
            gw.apply(
                {
                    "callback": hooks.url,
                    "routes": [
                        {
                            "name": "hooked",
                            "path": "/hooked",
                            "target": backend,
                            "stripPrefix": True,
                        }
                    ],
                    "security": [
                        {
                            "endpoint": "/hooked",
                            "auth": "none",
                            "budget": {"tokens": 100, "per": "day", "warnAt": 0.5},
                        }
                    ],
                }
            )
            url = gw.proxy_url() + "/hooked/v1/chat/completions"
            statuses = [post(url, body_reserving(40)).status_code for _ in range(6)]
            # 40 reserved, 22 used each: 22, then 62 (past half: the warning), 84, then refused.
            assert statuses[:3] == [200, 200, 200] and 429 in statuses, statuses
            warning = hooks.wait_for("budget.warning")
            assert warning["data"]["unit"] == "tokens" and warning["data"]["budget"] == 100
            assert warning["data"]["spent"] >= 50 and warning["data"]["caller"].startswith("ip:")
            exceeded = hooks.wait_for("budget.exceeded")
            assert exceeded["data"]["period"] == time.strftime("%Y-%m-%d", time.gmtime())
            # One more refusal, and a report that carries it: still one event of each kind.
            assert post(url, body_reserving(40)).status_code == 429
            deadline = time.monotonic() + 15
            while True:
                with gw.admin() as http:
                    summary = http.get(
                        "/api/v1/metrics", params={"cluster": gw.cluster, "window": "5m"}
                    ).json()
                    outbox = http.get("/api/v1/webhooks", params={"cluster": gw.cluster}).json()
                hooked = [r for r in summary["routes"] if r["route"] == "hooked"]
                if hooked and hooked[0]["requests"] == len(statuses) + 1:
                    break
                assert time.monotonic() < deadline, summary
                time.sleep(0.1)
            kinds = [e["type"] for e in outbox["webhooks"] if e["type"].startswith("budget.")]
            assert kinds.count("budget.warning") == 1 and kinds.count("budget.exceeded") == 1
        finally:
            gw.stop()


def test_the_control_plane_s_ledger_holds_what_every_budget_spent(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane("--telemetry-interval", "0.5")
        backend = gw.add_model_server("model")
        gw.add_data_plane("dp-a")
        gw.add_data_plane("dp-b")
        gw.add_route(path="/ledger", target=backend, stripPrefix=True)
        gw.secure("/ledger", authType="api-key", budget={"tokens": 10_000, "per": "day"})
        key = gw.create_key("erin")
        for index in range(5):  # three through one data plane, two through the other
            url = gw.proxy_url(index % 2) + "/ledger/v1/chat/completions"
            answer = post(url, body_reserving(40), Authorization=f"Bearer {key}")
            assert answer.status_code == 200, answer.text
        budget = ledger_spent(gw, 5 * (PROMPT_TOKENS + 5), consumer="erin")
        assert budget["spent"] == 5 * (PROMPT_TOKENS + 5)  # what the backend reported, once
        assert budget["caller"] == "consumer:erin" and budget["budget"] == 10_000
        assert budget["period"] == time.strftime("%Y-%m-%d", time.gmtime())
        printed = gw.cli("usage", "--consumer", "erin")
        assert "on /ledger" in printed and "110 tokens" in printed
    finally:
        gw.stop()


def test_a_flushed_redis_and_a_restarted_data_plane_keep_the_budget(tmp_path: Path) -> None:
    """200 tokens a day; each request reserves 40 and uses 22: 8 fit. Four are spent, Redis
    is flushed, two more, the data plane is replaced: still 8 in all, then refusals."""
    with private_redis() as (_redis, port):
        gw = Gateway(tmp_path)
        try:
            gw.start_control_plane("--telemetry-interval", "0.5")
            backend = gw.add_model_server("model")
            redis_url = f"redis://127.0.0.1:{port}/0"
            gw.add_data_plane("dp-a", "--redis-url", redis_url)
            gw.add_route(path="/kept", target=backend, stripPrefix=True)
            gw.secure("/kept", authType="none", budget={"tokens": 200, "per": "day"})

            def ask(plane: int) -> int:
                url = gw.proxy_url(plane) + "/kept/v1/chat/completions"
                return post(url, body_reserving(40)).status_code

            assert [ask(0) for _ in range(4)] == [200] * 4
            assert ledger_spent(gw, 88)["spent"] == 4 * (PROMPT_TOKENS + 5)
            assert redis_command("FLUSHALL", port=port) == b"+OK\r\n"
            assert [ask(0) for _ in range(2)] == [200] * 2  # counted from the ledger's 88
            assert ledger_spent(gw, 132)["spent"] == 6 * (PROMPT_TOKENS + 5)
            gw.data_planes[0].stop()
            gw.add_data_plane("dp-b", "--redis-url", redis_url)
            assert [ask(1) for _ in range(3)] == [200, 200, 429]  # 8 in all, not 4 + 2 + 8
            assert "put back into Redis from the ledger" in gw.data_planes[0].logs()
        finally:
            gw.stop()


def test_a_flush_before_the_ledger_has_the_charges_loses_none(tmp_path: Path) -> None:
    """Two data planes share Redis; the control plane hears of charges once a minute, so
    the ledger has none when Redis is flushed. 200 tokens a day; each request reserves 40
    and uses 22. Five requests (110) and a sixth in flight across the flush: the data planes
    put back what they charged, the sixth is charged what it used (its reservation went
    with the flush), and two more fit: 8 in all, then refusals."""
    with private_redis() as (_redis, port):
        gw = Gateway(tmp_path)
        try:
            gw.start_control_plane("--telemetry-interval", "60")
            backend = gw.add_model_server("model")
            redis_url = f"redis://127.0.0.1:{port}/0"
            planes = [gw.add_data_plane(name, "--redis-url", redis_url) for name in ("a", "b")]
            gw.add_route(path="/gap", target=backend, stripPrefix=True)
            gw.secure("/gap", authType="none", budget={"tokens": 200, "per": "day"})

            def ask(plane: int, **headers: str) -> int:
                url = gw.proxy_url(plane) + "/gap/v1/chat/completions"
                return post(url, body_reserving(40), **headers).status_code

            assert [ask(index % 2) for index in range(5)] == [200] * 5
            in_flight: list[int] = []
            slow = threading.Thread(
                target=lambda: in_flight.append(ask(0, **{"x-test-first-delay": "3"}))
            )
            slow.start()
            model_server = f"http://127.0.0.1:{gw.upstreams['model'].ready['port']}"
            while len(httpx.get(model_server + "/seen").json()) < 6:  # reserved, and asked
                time.sleep(0.02)
            assert redis_command("FLUSHALL", port=port) == b"+OK\r\n"
            deadline = time.monotonic() + 15
            put_back = "budget charges not yet in the ledger added to the rebuilt Redis: 1"
            while not all(put_back in plane.logs() for plane in planes):
                assert time.monotonic() < deadline, [plane.logs()[-800:] for plane in planes]
                time.sleep(0.05)
            assert "budget counts put back into Redis from the ledger: 0" in (
                planes[0].logs() + planes[1].logs()
            )
            slow.join()
            assert in_flight == [200]
            assert [ask(index % 2) for index in range(3)] == [200, 200, 429]
            for plane in planes:  # a stopping data plane reports what it has not yet
                plane.stop()
            assert ledger_spent(gw, 8 * 22)["spent"] == 8 * (PROMPT_TOKENS + 5)
        finally:
            gw.stop()


def test_a_data_plane_without_redis_starts_its_budgets_from_the_ledger(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    try:
        gw.start_control_plane("--telemetry-interval", "0.5")
        backend = gw.add_model_server("model")
        gw.add_data_plane("dp-a")
        gw.add_route(path="/local-kept", target=backend, stripPrefix=True)
        gw.secure("/local-kept", authType="none", budget={"tokens": 200, "per": "day"})
        url = gw.proxy_url(0) + "/local-kept/v1/chat/completions"
        assert [post(url, body_reserving(40)).status_code for _ in range(4)] == [200] * 4
        assert ledger_spent(gw, 88)["spent"] == 4 * (PROMPT_TOKENS + 5)  # in the ledger
        gw.data_planes[0].stop()
        replacement = gw.add_data_plane("dp-b")
        deadline = time.monotonic() + 15
        while "budget counts from the ledger: 1" not in replacement.logs():
            assert time.monotonic() < deadline, replacement.logs()[-1500:]
            time.sleep(0.05)
        url = gw.proxy_url(1) + "/local-kept/v1/chat/completions"
        statuses = [post(url, body_reserving(40)).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]  # 88 spent before the restart
    finally:
        gw.stop()
