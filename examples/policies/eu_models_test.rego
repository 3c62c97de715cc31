package plano.eu_models_test

import data.plano.eu_models

eu_team := {"team": "eu-data", "tags": []}

test_us_model_routed_to_eu if {
	eu_models.route == "mistral/mistral-small-latest" with input as {
		"phase": "request",
		"principal": eu_team,
		"request": {"model": "gpt-4o-mini", "resolved": {"provider": "openai", "model": "gpt-4o-mini"}},
	}
}

test_eu_model_kept if {
	not eu_models.route with input as {
		"phase": "request",
		"principal": eu_team,
		"request": {"model": "mistral/mistral-large-latest", "resolved": {"provider": "mistral"}},
	}
}

test_unknown_model_denied if {
	count(eu_models.deny) == 1 with input as {
		"phase": "request",
		"principal": eu_team,
		"request": {"model": "somewhere/else", "resolved": null},
	}
}

test_answer_from_outside_eu_denied if {
	count(eu_models.deny) == 1 with input as {
		"phase": "response",
		"principal": eu_team,
		"deployment": {"provider": "openai", "model": "gpt-4o-mini"},
	}
}

test_other_teams_untouched if {
	not eu_models.route with input as {
		"phase": "request",
		"principal": {"team": "support"},
		"request": {"model": "gpt-4o-mini", "resolved": {"provider": "openai"}},
	}
}
