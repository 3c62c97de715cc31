"""Conversation state for the OpenAI Responses API (``previous_response_id``, ``GET`` and
``DELETE /v1/responses/{id}``): stores and the filter that fills them."""

from plano.state.filter import ResponsesStateFilter
from plano.state.sqlite import SQLiteResponseStore
from plano.state.store import MemoryResponseStore, ResponseStore, StoredResponse, load_conversation

__all__ = [
    "MemoryResponseStore",
    "ResponseStore",
    "ResponsesStateFilter",
    "SQLiteResponseStore",
    "StoredResponse",
    "load_conversation",
]
