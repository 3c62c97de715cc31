"""Policy and governance on the request path: Rego policies (:mod:`plano.rego` evaluates them)
over a documented input document, and tool-use rules without Rego.

* :mod:`.input`: the input document (pure);
* :mod:`.decisions`: decision rules' values read and applied (pure);
* :mod:`.tools`: ``tool_rules`` (pure);
* :mod:`.stream`: tool calls held in a stream until they are whole (pure);
* :mod:`.engine`: one runtime's compiled policies, per phase;
* :mod:`.filter` / :mod:`.setup`: the filter every model listener runs;
* :mod:`.counters`: tool calls per session;
* :mod:`.testing`: ``plano policy test``.

``docs/policies.md`` is the user's guide.
"""

from plano.policy.errors import PolicyDenied
from plano.policy.filter import POLICY_HEADER, AnswerPolicyFilter, PolicyFilter
from plano.policy.setup import policy_filter

__all__ = ["POLICY_HEADER", "AnswerPolicyFilter", "PolicyDenied", "PolicyFilter", "policy_filter"]
