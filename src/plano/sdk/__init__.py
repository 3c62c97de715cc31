"""Plano's SDK for agent authors: serve a function (or a LangGraph graph, a LlamaIndex agent,
an OpenAI Agents SDK agent) as an agent service in a few lines, with Plano's model listener
as its LLM endpoint and the incoming turn's ``traceparent``, request id and session id carried
into every call it makes; publish to and subscribe to topics. Independent of the gateway (an
agent process imports only this, the pure ``plano.core.sse`` parser and aiohttp); frameworks
are optional extras. docs/sdk.md.

```python
from plano.sdk import AgentService, llm

async def answer(messages, turn):
    reply = await llm().chat.completions.create(model="gpt-4o-mini", messages=messages)
    return reply.choices[0].message.content

AgentService(answer, name="weather").run()     # PORT from the environment
```
"""

from plano.sdk.context import Turn, current_turn, plano_url, propagation_headers
from plano.sdk.llm import http_client, llm
from plano.sdk.pubsub import Event, publish, subscribe
from plano.sdk.service import AgentService, serve

__all__ = [
    "AgentService",
    "Event",
    "Turn",
    "current_turn",
    "http_client",
    "llm",
    "plano_url",
    "propagation_headers",
    "publish",
    "serve",
    "subscribe",
]
