# The support agent may not call db_write.
#
# "The support agent" is the agent the hop serves (input.agent) or a caller whose key is
# tagged agent:support. The tool is taken out of the request, and a call the model makes
# anyway (a tool it saw earlier in the conversation) is stripped from the answer.
package plano.support_tools

forbidden := {"db_write"}

is_support if input.agent == "support"

is_support if "agent:support" in input.principal.tags

strip_tools contains name if {
	is_support
	some name in input.tools
	name in forbidden
}

strip_tool_calls contains call.name if {
	is_support
	input.phase == "response"
	some call in input.tool_calls
	call.name in forbidden
}
