"""The pure parts of the simulators: answers, tool calls, options, fault plans, templates."""

from __future__ import annotations

import pytest

from plano.sim.cache import ResponseCache, Template, cacheable
from plano.sim.content import (
    Knobs,
    Prompt,
    ToolSpec,
    compose,
    count_prompt,
    split_text,
    tool_arguments,
)
from plano.sim.faults import FaultPlan, cut_stream, error_for, garble_stream
from plano.sim.options import SimOptions, options_from_headers

WEATHER = ToolSpec(
    "get_weather",
    {
        "type": "object",
        "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["days"],
    },
)
TIME = ToolSpec("get_time", {"type": "object", "properties": {"tz": {"enum": ["UTC"]}}})


def test_text_answer_is_deterministic_and_counts_pieces() -> None:
    prompt = Prompt(model="m", user_text="hello world", prompt_tokens=7)
    a = compose(prompt, Knobs("acme", output_tokens=8), seq=1)
    b = compose(prompt, Knobs("acme", output_tokens=8), seq=2)
    assert a == b
    assert a.text == "Simulated reply from acme m: hello world hello"
    assert len(a.pieces) == a.usage.output_tokens == 8
    assert a.finish == "stop"
    assert a.usage.prompt_tokens == 7


def test_max_tokens_caps_and_finishes_with_length() -> None:
    answer = compose(Prompt(model="m", user_text="x", max_tokens=3), Knobs("p"), 1)
    assert answer.pieces == ("Simulated", " reply", " from")
    assert answer.finish == "length"


def test_empty_user_text_uses_filler_words() -> None:
    answer = compose(Prompt(model="m"), Knobs("p", output_tokens=7), 1)
    assert answer.text == "Simulated reply from p m: lorem ipsum"


def test_tool_called_only_when_triggered() -> None:
    plain = compose(Prompt(model="m", user_text="hi", tools=(WEATHER,)), Knobs("p"), 1)
    assert not plain.tool_calls
    asked = compose(Prompt(model="m", user_text="Weather?", tools=(WEATHER,)), Knobs("p"), 5)
    assert asked.finish == "tool_calls"
    assert [(c.name, c.args, c.key) for c in asked.tool_calls] == [
        ("get_weather", {"location": "Paris", "days": 1}, "5_0")
    ]
    assert asked.tool_calls[0].arguments == '{"location":"Paris","days":1}'
    no_tools = compose(Prompt(model="m", user_text="weather"), Knobs("p"), 1)
    assert not no_tools.tool_calls


def test_both_calls_two_tools_unless_parallel_is_off() -> None:
    prompt = Prompt(model="m", user_text="both please", tools=(WEATHER, TIME))
    names = [c.name for c in compose(prompt, Knobs("p"), 1).tool_calls]
    assert names == ["get_weather", "get_time"]
    prompt.parallel_tools = False
    assert [c.name for c in compose(prompt, Knobs("p"), 1).tool_calls] == ["get_weather"]


def test_tool_choice_forces_or_forbids() -> None:
    forced = Prompt(model="m", user_text="hi", tools=(WEATHER, TIME), forced_tool="get_time")
    assert [(c.name, c.args) for c in compose(forced, Knobs("p"), 1).tool_calls] == [
        ("get_time", {"tz": "UTC"})
    ]
    required = Prompt(model="m", user_text="hi", tools=(WEATHER,), tool_mode="required")
    assert compose(required, Knobs("p"), 1).tool_calls
    none = Prompt(model="m", user_text="weather", tools=(WEATHER,), tool_mode="none")
    assert not compose(none, Knobs("p"), 1).tool_calls


def test_tool_result_is_mentioned_and_never_loops() -> None:
    prompt = Prompt(model="m", user_text="weather", tools=(WEATHER,), tool_result="sunny 21C")
    answer = compose(prompt, Knobs("p", output_tokens=10), 1)
    assert not answer.tool_calls
    assert answer.text == "Simulated reply from p m: the tool returned sunny 21C"


def test_usage_knobs() -> None:
    prompt = Prompt(model="m", user_text="hi", prompt_tokens=10, thinking=True)
    answer = compose(prompt, Knobs("p", cached_tokens=50, cache_write_tokens=5), 1)
    assert answer.usage.cached_tokens == 10  # never more than the prompt
    assert answer.usage.cache_write_tokens == 0
    assert answer.thinking and answer.usage.reasoning_tokens == len(answer.thinking)
    assert answer.usage.completion_tokens == answer.usage.output_tokens + len(answer.thinking)
    hidden = compose(Prompt(model="m"), Knobs("p", reasoning_tokens=30), 1)
    assert not hidden.thinking and hidden.usage.reasoning_tokens == 30


@pytest.mark.parametrize(
    ("schema", "args"),
    [
        (None, {}),
        ({"type": "object"}, {}),
        ({"properties": {"n": {"type": "number"}, "b": {"type": "boolean"}}}, {"n": 1.0}),
        ({"properties": {"l": {"type": ["null", "array"]}}}, {"l": []}),
        ({"properties": {"c": {"type": "STRING"}}}, {"c": "Paris"}),  # Gemini's upper case
    ],
)
def test_tool_arguments_from_schema(schema: dict[str, object] | None, args: object) -> None:
    assert tool_arguments(schema) == args


def test_helpers() -> None:
    assert split_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert split_text("") == [""]
    assert count_prompt(["abcdefgh", ""], [ToolSpec("tool")]) == (2 + 4) + 4 + 8 + 1


def test_template_fills_ids_and_timestamps() -> None:
    from plano.sim.cache import CREATED_SENTINEL, SEQ_SENTINEL

    body = b'{"id":"x-%d","created":%d,"call":"c_%d_0"}' % (
        SEQ_SENTINEL,
        CREATED_SENTINEL,
        SEQ_SENTINEL,
    )
    template = Template(body, prompt_tokens=3)
    assert template.fill(42, 1700000000) == b'{"id":"x-42","created":1700000000,"call":"c_42_0"}'
    simple = Template(b'{"id":"%d","t":%d}' % (SEQ_SENTINEL, CREATED_SENTINEL), 0)
    assert simple.fill(7, 9) == b'{"id":"7","t":9}'
    assert not cacheable(str(SEQ_SENTINEL).encode())
    cache = ResponseCache(limit=1)
    cache.put(("/a", b"1"), template)
    cache.put(("/a", b"2"), template)
    assert len(cache) == 1 and cache.get(("/a", b"1")) is None


def test_fault_plan_is_reproducible() -> None:
    def run() -> list[str]:
        plan = FaultPlan("500", rate=0.3, after=0, seed=7)
        return [plan.pick() for _ in range(50)]

    first = run()
    assert first == run()
    assert 5 < first.count("500") < 25
    assert FaultPlan("500", 0.3, 0, seed=8).pick() is not None


def test_fault_after_lets_the_first_requests_through() -> None:
    plan = FaultPlan("429", rate=1.0, after=2, seed=0)
    assert [plan.pick() for _ in range(4)] == ["none", "none", "429", "429"]


def test_fault_helpers() -> None:
    events = [b"a\n\n", b'data: {"x": 1}\n\n', b"c\n\n", b"data: [DONE]\n\n"]
    assert cut_stream(events) == events[:1]
    assert garble_stream(events)[1] == b'data: {"\n\n'
    assert error_for("none", 1) is None
    kind, message = error_for("400", 10) or ("", "")
    assert kind == "context_length" and "128000" in message


def test_options_validate() -> None:
    with pytest.raises(ValueError, match="fault must be one of"):
        SimOptions(fault="boom")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fault_rate"):
        SimOptions(fault_rate=2)
    with pytest.raises(ValueError, match="latency_ms"):
        SimOptions(latency_ms=-1)


def test_options_from_mapping() -> None:
    base = SimOptions(latency_ms=5)
    opts = SimOptions.from_mapping({"fault": 429, "fault_rate": 1, "models": ["a"]}, base)
    assert (opts.fault, opts.fault_rate, opts.latency_ms, opts.models) == ("429", 1.0, 5, ("a",))
    with pytest.raises(ValueError, match="unknown option"):
        SimOptions.from_mapping({"nope": 1})
    with pytest.raises(ValueError, match="wrong type"):
        SimOptions.from_mapping({"output_tokens": "many"})
    with pytest.raises(ValueError, match="wrong type"):
        SimOptions.from_mapping({"require_auth": 1})
    assert SimOptions.from_mapping(opts.to_dict()) == opts


def test_header_overrides() -> None:
    base = SimOptions()
    assert options_from_headers(base, {}) == (base, None)
    headers = {"x-sim-latency-ms": "12.5", "x-sim-tokens": "3", "x-sim-fault": "cut"}
    opts, forced = options_from_headers(base, headers)
    assert (opts.latency_ms, opts.output_tokens, opts.fault, forced) == (12.5, 3, "cut", "cut")
    with pytest.raises(ValueError, match="x-sim-tps"):
        options_from_headers(base, {"x-sim-tps": "fast"})
    with pytest.raises(ValueError, match="fault must be"):
        options_from_headers(base, {"x-sim-fault": "explode"})
