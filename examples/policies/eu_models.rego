# Team "eu-data" only uses EU models.
#
# A request for another model is routed to the team's EU default; one for a model the
# config does not declare is refused. Routing may still pick another deployment (a fallback),
# so the response phase refuses an answer that came from outside the EU.
package plano.eu_models

eu_providers := {"mistral"}

eu_default := "mistral/mistral-small-latest"

restricted if input.principal.team == "eu-data"

in_eu(target) if target.provider in eu_providers

route := eu_default if {
	restricted
	input.phase == "request"
	input.request.resolved != null
	not in_eu(input.request.resolved)
}

deny contains msg if {
	restricted
	input.phase == "request"
	input.request.resolved == null
	msg := sprintf("team eu-data may only use EU models; %q is not one", [input.request.model])
}

deny contains "team eu-data may only use EU models; the answer came from outside the EU" if {
	restricted
	input.phase == "response"
	not in_eu(input.deployment)
}
