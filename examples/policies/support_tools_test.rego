package plano.support_tools_test

import data.plano.support_tools

test_db_write_not_offered_to_support if {
	support_tools.strip_tools == {"db_write"} with input as {
		"agent": "support",
		"principal": {"tags": []},
		"tools": ["db_read", "db_write"],
	}
}

test_tagged_key_counts_as_support if {
	"db_write" in support_tools.strip_tools with input as {
		"agent": null,
		"principal": {"tags": ["agent:support"]},
		"tools": ["db_write"],
	}
}

test_db_write_call_stripped if {
	support_tools.strip_tool_calls == {"db_write"} with input as {
		"phase": "response",
		"agent": "support",
		"principal": {"tags": []},
		"tools": [],
		"tool_calls": [{"name": "db_write", "arguments": {}}, {"name": "db_read", "arguments": {}}],
	}
}

test_other_agents_keep_db_write if {
	count(support_tools.strip_tools) == 0 with input as {
		"agent": "billing",
		"principal": {"tags": []},
		"tools": ["db_write"],
	}
}
