package plano.tool_budget_test

import data.plano.tool_budget

test_tools_offered_under_the_limit if {
	count(tool_budget.strip_tools) == 0 with input as {
		"phase": "request",
		"session": {"id": "s", "tool_calls": 19},
		"tools": ["a", "b"],
	}
}

test_no_tools_once_spent if {
	tool_budget.strip_tools == {"a", "b"} with input as {
		"phase": "request",
		"session": {"id": "s", "tool_calls": 20},
		"tools": ["a", "b"],
	}
}

test_answer_past_the_limit_denied if {
	count(tool_budget.deny) == 1 with input as {
		"phase": "response",
		"session": {"id": "s", "tool_calls": 19},
		"tool_calls": [{"name": "a"}, {"name": "b"}],
	}
}

test_unknown_count_is_zero if {
	tool_budget.used == 0 with input as {"session": {"id": null, "tool_calls": null}}
}
