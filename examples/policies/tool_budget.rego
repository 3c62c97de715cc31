# No more than 20 tool calls per session.
#
# input.session.tool_calls counts the calls already delivered in this session (the
# x-plano-session-id header; the entry sets session_counters: true). Once the budget is spent
# the request offers no tools; an answer that would go past it is refused.
package plano.tool_budget

limit := 20

# Unknown (no session, or the hot store unreachable): counted as none.
used := n if {
	n := input.session.tool_calls
	is_number(n)
} else := 0

strip_tools contains name if {
	input.phase == "request"
	used >= limit
	some name in input.tools
}

deny contains msg if {
	input.phase == "response"
	used + count(input.tool_calls) > limit
	msg := sprintf("this session may make at most %d tool calls (%d made, %d more asked)", [limit, used, count(input.tool_calls)])
}
