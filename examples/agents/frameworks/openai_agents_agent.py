"""An OpenAI Agents SDK agent served as a Plano agent; plano.sdk.llm() (Plano's model
listener, with the turn's ids on every call) is its model client.
pip install -r requirements-openai-agents.txt."""

from __future__ import annotations

from agents import Agent, OpenAIChatCompletionsModel, set_tracing_disabled
from plano.sdk import AgentService, llm
from plano.sdk.adapters import from_openai_agents

set_tracing_disabled(True)  # traces go through Plano, not to OpenAI
agent = Agent(
    name="travel",
    instructions="You are a helpful travel agent.",
    model=OpenAIChatCompletionsModel(model="openai/gpt-4o-mini", openai_client=llm()),
)

if __name__ == "__main__":
    AgentService(from_openai_agents(agent), name="openai_agents_agent").run()
