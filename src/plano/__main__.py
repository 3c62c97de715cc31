import sys

from plano.cli import main

sys.exit(main())
