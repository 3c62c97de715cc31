"""A LlamaIndex agent served as a Plano agent (its LLM is Plano's model listener).
pip install -r requirements-llamaindex.txt."""

from __future__ import annotations

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.llms.openai_like import OpenAILike

from plano.sdk import AgentService, http_client, plano_url
from plano.sdk.adapters import from_llamaindex

llm = OpenAILike(
    model="openai/gpt-4o-mini",
    api_base=plano_url() + "/v1",
    api_key="plano",
    is_chat_model=True,
    is_function_calling_model=True,
    async_http_client=http_client(),  # the turn's traceparent / ids on every call
)
agent = FunctionAgent(tools=[], llm=llm, system_prompt="You are a helpful travel agent.")

if __name__ == "__main__":
    AgentService(from_llamaindex(agent), name="llamaindex_agent").run()
