"""``python -m plano.sim``: the simulated providers on their own."""

from plano.sim.cli import main

raise SystemExit(main())
