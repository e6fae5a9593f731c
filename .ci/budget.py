#!/usr/bin/env python3
"""House budget (tinygrad's sz.py in spirit): fail when the code or the README outgrows it.

No module in edge/ over MAX_MODULE_LINES lines (docstrings included: on-device code stays
auditable), and README.md, the user guide, at most MAX_README_CHARS characters (figures live
beside the code: firmware_sim/README.md, export/README.md). Exit 1 with one line per breach.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_README_CHARS = 20_000


def breaches(root: Path = ROOT) -> list[str]:
    """One message per file over its budget; empty when everything fits."""
    found = []
    for path in sorted((root / "edge").rglob("*.py")):
        n_lines = len(path.read_text(encoding="utf-8").splitlines())
        if n_lines > MAX_MODULE_LINES:
            found.append(f"{path.relative_to(root)}: {n_lines} lines > {MAX_MODULE_LINES}")
    n_chars = len((root / "README.md").read_text(encoding="utf-8"))
    if n_chars > MAX_README_CHARS:
        found.append(f"README.md: {n_chars} characters > {MAX_README_CHARS}")
    return found


def main() -> int:
    """Print the breaches; 0 when there are none, else 1."""
    found = breaches()
    for line in found:
        print(f"budget: {line}", file=sys.stderr)
    if not found:
        print(f"budget: ok (edge/ modules <= {MAX_MODULE_LINES} lines, "
              f"README.md <= {MAX_README_CHARS} characters)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
