"""``python -m hashlib_core ...``: see :mod:`hashlib_core.cli`."""

import sys

from .cli import main

sys.exit(main())
