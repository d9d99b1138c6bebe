"""``python -m descentlab.cli``: the same as the ``descentlab`` command."""

import sys

from . import main

sys.exit(main())
