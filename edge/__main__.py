"""``python -m edge`` is the ``edge-vitals`` command."""

import sys

from edge.cli import main

sys.exit(main())
