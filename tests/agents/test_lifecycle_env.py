"""What a managed agent's process sees of Plano's environment: a real replica ``exec`` d the
way the supervisor's child does it (``exec_replica``), printing its environment. Plano's
provider keys, admin key and database URL stay with Plano unless ``run.inherit_env`` names
them."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from plano.agents.lifecycle import agent_environment, plan_agents
from plano.config.agent_run import AgentRun

PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"
GATEWAY_SECRETS = {
    "OPENAI_API_KEY": "sk-SECRET-openai",
    "PLANO_ADMIN_KEY": "adm-SECRET",
    "DATABASE_URL": "postgresql://u:SECRET@127.0.0.1/test",
}


def _run_agent(tmp_path: Path, run: AgentRun) -> dict[str, str]:
    agent = SimpleNamespace(id="printer", url="http://127.0.0.1:18123", run=run)
    plan = plan_agents([agent], base_dir=tmp_path, plano_url="http://127.0.0.1:10000")
    (replica,) = plan.managed()
    # The child the supervisor forks: this interpreter, then exec_replica replaces it.
    child = (
        "import pickle, sys; from plano.agents.lifecycle import exec_replica; "
        "sys.exit(exec_replica(pickle.loads(bytes.fromhex(sys.argv[1]))))"
    )
    parent_env = {**os.environ, **GATEWAY_SECRETS, "TEAM_SETTING": "blue"}
    out = subprocess.run(
        [sys.executable, "-c", child, pickle.dumps(replica).hex()],
        env=parent_env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    env: dict[str, str] = json.loads(out.stdout)
    return env


def test_a_managed_agent_gets_a_minimal_environment(tmp_path: Path) -> None:
    run = AgentRun(command=[sys.executable, "-c", PRINT_ENV], env={"MY_SETTING": "x"})
    env = _run_agent(tmp_path, run)
    assert "SECRET" not in json.dumps(env), sorted(env)
    assert "TEAM_SETTING" not in env
    assert env["PORT"] == "18123"
    assert env["PLANO_URL"] == "http://127.0.0.1:10000"
    assert env["PLANO_AGENT_TOKEN"].startswith("pat-")
    assert env["MY_SETTING"] == "x"
    assert env["PATH"] == os.environ["PATH"]


def test_inherit_env_opts_in_by_name(tmp_path: Path) -> None:
    run = AgentRun(
        command=[sys.executable, "-c", PRINT_ENV], inherit_env=["OPENAI_API_KEY", "TEAM_SETTING"]
    )
    env = _run_agent(tmp_path, run)
    assert env["OPENAI_API_KEY"] == "sk-SECRET-openai"
    assert env["TEAM_SETTING"] == "blue"
    assert "PLANO_ADMIN_KEY" not in env
    assert "DATABASE_URL" not in env


def test_agent_environment_own_values_win_and_unset_names_are_skipped() -> None:
    parent = {"PATH": "/bin", "HOME": "/h", "SECRET_KEY": "s", "PORT": "1"}
    env = agent_environment(parent, {"PORT": "2"}, ("MISSING",))
    assert env == {"PATH": "/bin", "HOME": "/h", "PORT": "2"}
