"""A LangGraph graph served as a Plano agent; its model calls go through Plano's model
listener (PLANO_URL) with the turn's traceparent / request id / session id.
pip install -r requirements-langgraph.txt; run under `plano up` (PORT is set) or alone."""

from __future__ import annotations

from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph

from plano.sdk import AgentService, http_client, plano_url
from plano.sdk.adapters import from_langgraph

model = ChatOpenAI(
    model="openai/gpt-4o-mini",
    base_url=plano_url() + "/v1",
    api_key="plano",
    http_async_client=http_client(),
)


async def call_model(state: MessagesState) -> dict[str, list[object]]:
    return {"messages": [await model.ainvoke(state["messages"])]}


graph = StateGraph(MessagesState)
graph.add_node("model", call_model)
graph.add_edge(START, "model")
graph.add_edge("model", END)
app = graph.compile()

if __name__ == "__main__":
    AgentService(from_langgraph(app), name="langgraph_agent").run()
