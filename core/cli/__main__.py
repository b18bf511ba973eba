"""``python -m core.cli …``: the command line without the app's entry point (torchrun starts it so)."""

import sys

from core.cli.main import main

sys.exit(main())
