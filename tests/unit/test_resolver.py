"""What the address book keeps when names resolve, change, fail or go away."""

from __future__ import annotations

import asyncio

from data_plane.upstream.resolver import AddressBook, is_ip_literal, prefer_ipv4


def test_ipv4_is_preferred_and_answers_are_stable() -> None:
    assert prefer_ipv4(["10.0.0.2", "::1", "10.0.0.1", "10.0.0.2"]) == ("10.0.0.1", "10.0.0.2")
    assert prefer_ipv4(["fd00::2", "fd00::1"]) == ("fd00::1", "fd00::2")
    assert is_ip_literal("[::1]") and is_ip_literal("10.1.2.3") and not is_ip_literal("svc")


def test_a_failed_lookup_keeps_the_last_good_answer() -> None:
    answers: dict[str, list[str] | OSError] = {"svc": ["10.0.0.1"]}

    async def lookup(host: str) -> list[str]:
        answer = answers[host]
        if isinstance(answer, OSError):
            raise answer
        return answer

    async def scenario() -> None:
        book = AddressBook(lookup)
        assert await book.refresh({"svc"}) and book.addresses("svc") == ("10.0.0.1",)
        assert not await book.refresh({"svc"}), "the same answer is no change"
        answers["svc"] = OSError("SERVFAIL")
        assert not await book.refresh({"svc"}) and book.addresses("svc") == ("10.0.0.1",)
        answers["svc"] = ["10.0.0.2", "10.0.0.1"]
        assert await book.refresh({"svc"}) and book.addresses("svc") == ("10.0.0.1", "10.0.0.2")
        await book.refresh(set())
        assert book.addresses("svc") is None, "a name no snapshot uses is forgotten"

    asyncio.run(scenario())
