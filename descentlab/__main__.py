"""``python -m descentlab``: the same as the ``descentlab`` command."""

import sys

from .cli import main

sys.exit(main())
