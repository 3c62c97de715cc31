"""Frameworks as :class:`~plano.sdk.service.AgentService` handlers. Each imports its framework
only when called (they are optional extras: ``pip install 'plano[langgraph]'`` and so on);
give the framework's model client :func:`plano.sdk.llm` / :func:`plano.sdk.http_client` (or
``base_url=plano_url() + "/v1"``) so its calls go through Plano with the turn's ids."""

from __future__ import annotations

from typing import Any

from plano.sdk.context import Turn

__all__ = ["from_langgraph", "from_llamaindex", "from_openai_agents", "last_user_text"]


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def from_langgraph(graph: Any) -> Any:
    """A compiled LangGraph graph whose state has ``messages`` (e.g. ``create_react_agent``
    or a ``MessagesState`` graph): the conversation in, the last message's text out."""

    async def handler(messages: list[dict[str, Any]], turn: Turn) -> str:
        config = {"configurable": {"thread_id": turn.session_id or turn.request_id or "plano"}}
        state = await graph.ainvoke({"messages": messages}, config=config)
        last = state["messages"][-1]
        content = getattr(last, "content", None)
        if content is None and isinstance(last, dict):
            content = last.get("content")
        return str(content or "")

    return handler


def from_llamaindex(agent: Any) -> Any:
    """A LlamaIndex agent or workflow with ``run(user_msg=...)`` (``FunctionAgent``,
    ``AgentWorkflow``, ``ReActAgent``); the last user message is the input."""

    async def handler(messages: list[dict[str, Any]], turn: Turn) -> str:
        result = await agent.run(user_msg=last_user_text(messages))
        response = getattr(result, "response", result)
        return str(getattr(response, "content", None) or response)

    return handler


def from_openai_agents(agent: Any) -> Any:
    """An OpenAI Agents SDK ``Agent``: the conversation as its input items, the final
    output as the answer."""

    async def handler(messages: list[dict[str, Any]], turn: Turn) -> str:
        from agents import Runner  # type: ignore[import-not-found,unused-ignore]

        items: Any = [  # the Agents SDK's input items (typed there as TypedDicts)
            {"role": m["role"], "content": m.get("content") or ""}
            for m in messages
            if m.get("role") in ("user", "assistant", "system", "developer")
        ]
        result = await Runner.run(agent, items)
        return str(result.final_output)

    return handler
