"""`python -m latentcraft.cli`: the same as the `latentcraft` command."""

import sys

from latentcraft.cli.main import main

sys.exit(main())
