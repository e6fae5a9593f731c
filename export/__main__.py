"""``python -m export``: same as ``edge-vitals export``."""

import sys

from export.cli import cli

sys.exit(cli())
