"""AccountingFilter: which usage is billed, its cost, and the ledger record it writes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from plano.accounting.filter import AccountingFilter
from plano.accounting.ledger import UsageRecord
from plano.accounting.pricing import PriceBook
from plano.accounting.tokens import TokenCounter
from plano.core.model import ChatRequest, Message, TextPart, Usage
from plano.errors import UpstreamConnectError, UpstreamStatusError
from plano.pipeline.context import Attempt, OutputText, Principal, RequestContext
from plano.pipeline.filters import FilterChain
from plano.providers.deployment import Deployment
from plano.providers.table import KNOWN_PROVIDERS

MS = 1_000_000
DEP = Deployment(
    name="openai/gpt-4o",
    provider="openai",
    model_id="gpt-4o",
    spec=KNOWN_PROVIDERS["openai"],
    base_url="https://api.openai.com",
    access_key="sk-test",
)


class Records:
    """A usage sink that keeps what it is given (the ledger's part is tested on its own)."""

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []
        self.started = self.closed = False

    def add(self, r: UsageRecord) -> None:
        self.records.append(r)

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def sink() -> Records:
    return Records()


@pytest.fixture
def acct(sink: Records) -> AccountingFilter:
    # An unloaded counter estimates ~4 characters a token: deterministic and instant.
    return AccountingFilter(sink, PriceBook(), TokenCounter())


def _ctx(*, stream: bool = True) -> RequestContext:
    ctx = RequestContext(request_id="req_a", shape="openai_chat", headers={}, started_ns=1_000 * MS)
    ctx.request = ChatRequest(
        model="fast", messages=[Message("user", [TextPart("x" * 40)])], stream=stream
    )
    ctx.deployment = DEP
    return ctx


def out(*texts: str) -> OutputText:
    o = OutputText()
    o.extend(texts)
    return o


def test_reported_usage_wins(acct: AccountingFilter) -> None:
    ctx = _ctx()
    ctx.usage = Usage(7, 3)
    ctx.output_text = out("ignored")
    assert acct.settle_usage(ctx) is ctx.usage


def test_stream_without_usage_is_estimated(acct: AccountingFilter) -> None:
    ctx = _ctx()
    ctx.upstream_headers_ns = 1_001 * MS
    ctx.output_text = out("a" * 20, "b" * 20)
    u = acct.settle_usage(ctx)
    # 3 priming + 3 per message + 40 chars / 4; output 40 chars / 4.
    assert u == Usage(input_tokens=3 + 3 + 10, output_tokens=10, estimated=True)


def test_stream_cut_after_some_output_is_still_billed(acct: AccountingFilter) -> None:
    ctx = _ctx()
    ctx.upstream_headers_ns = 1_001 * MS
    ctx.output_text = out("partial answer")
    ctx.status = 502
    u = acct.settle_usage(ctx)
    assert u is not None and u.estimated and u.output_tokens > 0


def test_nothing_billed_when_nothing_reached_a_model(acct: AccountingFilter) -> None:
    ctx = _ctx()
    ctx.status = 502
    ctx.error = UpstreamConnectError("refused")
    assert acct.settle_usage(ctx) is None


def test_nothing_billed_without_a_request_or_deployment(acct: AccountingFilter) -> None:
    ctx = _ctx()
    ctx.deployment = None
    assert acct.settle_usage(ctx) is None
    ctx = _ctx()
    ctx.request = None
    assert acct.settle_usage(ctx) is None


@pytest.mark.parametrize("status", [429, 400, 500])
def test_nothing_billed_for_an_upstream_error_status(acct: AccountingFilter, status: int) -> None:
    ctx = _ctx(stream=False)
    ctx.upstream_start_ns = 1_001 * MS
    ctx.upstream_headers_ns = 1_002 * MS  # the error answer's headers arrived
    ctx.status = status
    ctx.error = UpstreamStatusError("no", status=status)
    assert acct.settle_usage(ctx) is None


def test_non_stream_answer_without_usage_is_estimated(acct: AccountingFilter) -> None:
    ctx = _ctx(stream=False)
    ctx.upstream_headers_ns = 1_001 * MS
    u = acct.settle_usage(ctx)
    assert u is not None and u.estimated and u.input_tokens == 3 + 3 + 10


async def test_on_complete_writes_a_priced_record(acct: AccountingFilter, sink: Records) -> None:
    ctx = _ctx()
    ctx.usage = Usage(1000, 500, cache_read_tokens=200)
    ctx.attempts = [Attempt("openai/gpt-4o", 200)]
    ctx.upstream_start_ns = 1_002 * MS
    ctx.upstream_end_ns = 1_090 * MS
    ctx.first_token_ns = 1_020 * MS
    ctx.end_ns = 1_095 * MS
    ctx.principal = Principal("team-a", "key")
    await acct.on_complete(ctx)
    assert ctx.cost == Decimal("0.00725")
    (rec,) = sink.records
    assert rec.request_id == "req_a"
    assert (rec.provider, rec.model, rec.model_requested) == ("openai", "gpt-4o", "fast")
    assert rec.stream is True and rec.status == 200
    assert rec.cost == Decimal("0.00725")
    assert rec.total_ms == pytest.approx(95.0)
    assert rec.overhead_ms == pytest.approx(7.0)
    assert rec.ttft_ms == pytest.approx(20.0)
    assert rec.attempts == 1
    assert rec.error is None
    assert rec.principal == "team-a"
    assert rec.session is None


async def test_on_complete_of_a_failed_request(acct: AccountingFilter, sink: Records) -> None:
    ctx = _ctx()
    ctx.status = 502
    ctx.error = UpstreamConnectError("refused")
    ctx.end_ns = 1_001 * MS
    await acct.on_complete(ctx)
    (rec,) = sink.records
    assert rec.usage is None and rec.cost is None
    assert rec.error == "upstream_connect" and rec.status == 502


async def test_on_complete_without_a_deployment(acct: AccountingFilter, sink: Records) -> None:
    ctx = RequestContext(request_id="r", shape="openai_chat", headers={}, session_id="s-1")
    ctx.status = 400
    await acct.on_complete(ctx)
    (rec,) = sink.records
    assert rec.session == "s-1"
    assert (rec.provider, rec.model, rec.model_requested) == ("", "", "")


async def test_estimated_usage_is_priced_and_flagged(acct: AccountingFilter, sink: Records) -> None:
    ctx = _ctx()
    ctx.upstream_headers_ns = 1_001 * MS
    ctx.output_text = out("y" * 40)
    await acct.on_complete(ctx)
    (rec,) = sink.records
    assert rec.usage is not None and rec.usage.estimated
    assert rec.cost is not None and rec.cost > 0
    assert rec.to_json()["usage_estimated"] is True


async def test_runs_through_the_chain_and_start_close_drive_the_ledger(
    acct: AccountingFilter, sink: Records
) -> None:
    chain = FilterChain([acct])
    await chain.start()
    assert sink.started
    ctx = _ctx()
    ctx.usage = Usage(1, 1)
    chain.complete(ctx)
    await chain.close()
    assert sink.closed
    assert [r.request_id for r in sink.records] == ["req_a"]


def test_only_the_missing_side_is_estimated(acct: AccountingFilter) -> None:
    """A stream cut after Anthropic's message_start keeps the reported input and cache split;
    only the output is counted."""
    ctx = _ctx()
    ctx.usage = Usage(5000, 1, cache_read_tokens=4000, cache_write_tokens=900, has_output=False)
    ctx.output_text = out("z" * 400)
    ctx.client_closed = True
    ctx.status = 499
    u = acct.settle_usage(ctx)
    assert u is not None and u.estimated
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (5000, 4000, 900)
    assert u.output_tokens == 100


def test_reported_output_with_missing_input_counts_the_input(acct: AccountingFilter) -> None:
    ctx = _ctx()
    ctx.usage = Usage(0, 42, reasoning_tokens=7, has_input=False)
    u = acct.settle_usage(ctx)
    assert u is not None and u.estimated
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens) == (3 + 3 + 10, 42, 7)


def test_output_sample_is_bounded_and_scaled() -> None:
    o = OutputText(cap=1000)
    for _ in range(5000):
        o.append("abcd")
    assert o.total == 20_000
    assert len(o.sample()) == 1000
    assert o.scale == 20.0
    assert not OutputText()


def test_a_huge_answer_is_estimated_from_its_sample(acct: AccountingFilter) -> None:
    ctx = _ctx()
    big = OutputText(cap=4000)
    for _ in range(10_000):
        big.append("word " * 4)  # 20 MB would be the same: only the sample is counted
    ctx.output_text = big
    u = acct.settle_usage(ctx)
    assert u is not None
    assert u.output_tokens == 200_000 // 4


async def test_counting_runs_off_the_event_loop(
    acct: AccountingFilter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    seen: list[str] = []
    real = acct.counter.count

    def spy(text: str, model: str = "", *, load: bool = True) -> int:
        seen.append(threading.current_thread().name)
        return real(text, model, load=load)

    monkeypatch.setattr(acct.counter, "count", spy)
    ctx = _ctx()
    ctx.output_text = out("an answer without usage")
    ctx.client_closed = True  # estimates with what is loaded: no encoding load in the test
    await acct.on_complete(ctx)
    assert seen and threading.main_thread().name not in seen


def test_a_big_prompt_without_reported_usage_is_estimated_from_its_size(
    acct: AccountingFilter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokenizing a 178 KB prompt per request made the accounting queue fall behind."""

    def no_tokenizer(*_a: object, **_k: object) -> int:
        raise AssertionError("a big prompt must not be tokenized")

    monkeypatch.setattr(acct.counter, "count_request", no_tokenizer)
    ctx = _ctx()
    assert ctx.request is not None
    ctx.request.messages = [Message("user", [TextPart("word " * 40_000)])]
    u = acct.settle_usage(ctx)
    assert u is not None and u.estimated
    assert 45_000 <= u.input_tokens <= 55_000  # 200,000 characters at ~4 a token
