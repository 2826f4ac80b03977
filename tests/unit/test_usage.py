"""Usage as the backends report it, in one shape; hostile numbers are ignored."""

from __future__ import annotations

from data_plane.ai.usage import Usage, anthropic_usage, estimate_tokens, openai_usage


def test_openai_chat_usage_with_its_details() -> None:
    usage = openai_usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 7},
        }
    )
    assert usage == Usage(input=100, output=20, cached_input=64, reasoning=7)
    assert openai_usage({"prompt_tokens": 5}) == Usage(input=5, output=0)


def test_the_responses_api_says_input_and_output() -> None:
    usage = openai_usage(
        {
            "input_tokens": 30,
            "output_tokens": 9,
            "input_tokens_details": {"cached_tokens": 10},
            "output_tokens_details": {"reasoning_tokens": 3},
        }
    )
    assert usage == Usage(input=30, output=9, cached_input=10, reasoning=3)


def test_anthropic_counts_cached_tokens_apart_and_we_add_them() -> None:
    started = anthropic_usage(
        {
            "input_tokens": 12,
            "output_tokens": 1,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 2,
        }
    )
    assert started == Usage(input=19, output=1, cached_input=5, cache_write=2)
    final = anthropic_usage({"output_tokens": 40}, started)
    assert final is not None and (final.input, final.output) == (19, 40)


def test_hostile_numbers_are_ignored() -> None:
    for bad in (-1, 1.5, "10", True, 1 << 41, None, [1]):
        assert openai_usage({"prompt_tokens": bad}) is None
        usage = openai_usage(
            {
                "prompt_tokens": 3,
                "completion_tokens": bad,
                "prompt_tokens_details": {"cached_tokens": bad},
            }
        )
        assert usage == Usage(input=3, output=0)
    assert openai_usage("usage") is None and openai_usage({"prompt_tokens_details": 5}) is None
    assert openai_usage({"prompt_tokens": 1, "prompt_tokens_details": "x"}) == Usage(input=1)


def test_the_estimate_is_four_bytes_a_token_never_zero_for_text() -> None:
    assert [estimate_tokens(n) for n in (0, 1, 4, 5, 400)] == [0, 1, 1, 2, 100]
