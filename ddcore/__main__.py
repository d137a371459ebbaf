"""``python -m ddcore``: the same as the ``ddcore`` command."""

import sys

from ddcore.cli import main

sys.exit(main())
