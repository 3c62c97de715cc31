"""The supervisor's restart policy (pure) and its loop in a real process tree (a subprocess
runs it, so this test process never forks or touches its own signal handlers). Workers under
the supervisor are tested end to end in ``tests/e2e/test_supervised.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest

from plano.server.supervisor import RestartPolicy, describe_exit


def test_backoff_grows_then_gives_up() -> None:
    policy = RestartPolicy(initial=0.1, factor=2.0, max_delay=0.5, max_failures=5)
    assert [policy.delay(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.5, 0.5, None]


def test_exit_statuses_in_words() -> None:
    # waitpid's encoding: exit code in the high byte, the killing signal in the low bits.
    assert describe_exit(3 << 8) == "exited with status 3"
    assert describe_exit(signal.SIGKILL) == "was killed by SIGKILL"


def run(body: str) -> subprocess.CompletedProcess[str]:
    flags = tempfile.mkdtemp(prefix="plano-sup-")
    script = textwrap.dedent(
        """
        import logging, os, signal, sys, time
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
        from plano.server.supervisor import Child, RestartPolicy, Supervisor
        fast = RestartPolicy(initial=0.01, max_delay=0.02, max_failures=3, window=60)
        """
    ) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "FLAG_DIR": flags},
    )


def test_a_crash_loop_is_bounded_and_reported() -> None:
    r = run(
        """
        sup = Supervisor([Child("crasher", lambda ctx: 3, policy=fast)], drain_timeout=1)
        sys.exit(sup.run())
        """
    )
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("crasher started") == 4  # the first start and three restarts
    assert r.stderr.count("exited with status 3; restarting it in") == 3
    assert "4 exits within 60 s is a crash loop; stopping plano" in r.stderr


def test_a_child_that_may_exit_is_not_restarted_and_signals_reach_children() -> None:
    r = run(
        """
        flag = os.path.join(os.environ["FLAG_DIR"], "once-done")

        def done(ctx):
            with open(flag, "w") as f:
                f.write(str(os.getpid()))
            return 0

        def reaped(pid):
            try:
                os.kill(pid, 0)  # a zombie (exited, not yet reaped) still answers
            except ProcessLookupError:
                return True
            return False

        def waits(ctx):
            seen = []
            signal.signal(signal.SIGHUP, lambda *a: seen.append("hup"))
            signal.signal(signal.SIGTERM, lambda *a: seen.append("term"))
            while not os.path.exists(flag):  # "once" has finished...
                time.sleep(0.01)
            pid = ""
            while not pid:
                with open(flag) as f:
                    pid = f.read()
            while not reaped(int(pid)):  # ...and the supervisor reaped it (a fixed sleep
                time.sleep(0.01)  # here lost that race on a loaded box)
            ctx.notify("ready")
            while "term" not in seen:
                time.sleep(0.01)
            print("child saw", seen, flush=True)
            return 0

        def ready():
            os.kill(os.getpid(), signal.SIGHUP)
            os.kill(os.getpid(), signal.SIGTERM)

        children = [
            Child("once", done, restart="on-failure", reports_ready=False),
            Child("server", waits, policy=fast),
        ]
        sys.exit(Supervisor(children, drain_timeout=5, on_ready=ready).run())
        """
    )
    assert r.returncode == 0, r.stderr
    assert "once (pid" in r.stderr and "exited with status 0; not restarting it" in r.stderr
    assert "child saw ['hup', 'term']" in r.stdout
    assert "reload signalled to 1 worker(s)" in r.stderr  # "once" had exited


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_signals_sent_before_a_child_handles_them_are_kept() -> None:
    r = run(
        """
        def slow_start(ctx):
            os.kill(os.getpid(), signal.SIGHUP)  # arrives before the child's own handlers
            print("pending", ctx.pending, flush=True)
            return 0

        sup = Supervisor([Child("w", slow_start, restart="never")], drain_timeout=1)
        sys.exit(sup.run())
        """
    )
    assert r.returncode == 0, r.stderr
    assert f"pending [{int(signal.SIGHUP)}]" in r.stdout


def test_an_agent_child_crash_loop_gives_up_on_it_and_the_rest_stay() -> None:
    r = run(
        """
        events = []

        def steady(ctx):
            seen = []
            signal.signal(signal.SIGTERM, lambda *a: seen.append("term"))
            ctx.notify("ready")
            while not seen:
                time.sleep(0.01)
            return 0

        def stubborn(ctx):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                time.sleep(0.05)

        def on_child(name, event, pid, detail):
            events.append((name, event))
            if (name, event) == ("agent", "crash-loop"):
                os.kill(os.getpid(), signal.SIGTERM)  # stop once it gave up

        sup = Supervisor(
            [
                Child("worker", steady),
                Child("agent", lambda ctx: 3, policy=fast, crash_loop="give-up",
                      reports_ready=False),
                Child("stubborn", stubborn, reports_ready=False, stop_timeout=0.2),
            ],
            drain_timeout=30,
            on_child=on_child,
        )
        started = time.monotonic()
        code = sup.run()
        print(code, round(time.monotonic() - started, 1), events)
        """
    )
    code, took, events = r.stdout.split(" ", 2)
    assert code == "0", r.stderr
    assert float(took) < 5  # the stubborn child's own stop_timeout, not the 30 s drain
    assert "agent (pid" in r.stderr and "crash loop; leaving it down" in r.stderr
    assert "stubborn (pid" in r.stderr and "did not stop in time; killing it" in r.stderr
    assert events.count("('agent', 'restarting')") == 3
    assert "('agent', 'crash-loop')" in events and "('worker', 'stopped')" in events
    assert "('stubborn', 'stopped')" in events
