#!/usr/bin/env python3
"""Print a shell block of README.md that an HTML comment marks, so CI runs what users read.

    python tests/arm64/readme_block.py pi-install [--repository PATH] [--readme FILE]

The block is the first fenced code block after the line ``<!-- NAME ... -->``, with the list
indentation removed. ``--repository`` replaces the placeholder ``<repository URL>`` (the
one word a user fills in) with a local clone's path; every other character is verbatim.
Exit 2, one line on stderr, when the marker or its block is missing or is there twice.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
PLACEHOLDER = "<repository URL>"


class BlockError(ValueError):
    """The marked block is missing, unterminated or not unique."""


def marked_block(markdown: str, name: str) -> str:
    """The text of the fenced block after ``<!-- name ... -->`` (dedented, ends with a newline)."""
    marker = re.compile(rf"^[ \t]*<!--[ \t]*{re.escape(name)}\b.*-->[ \t]*$", re.MULTILINE)
    found = list(marker.finditer(markdown))
    if len(found) != 1:
        raise BlockError(f"README.md has {len(found)} '<!-- {name} -->' markers; need 1")
    block = re.compile(r"\s*?^([ \t]*)```[\w-]*[ \t]*\n(.*?)^\1```[ \t]*$",
                       re.MULTILINE | re.DOTALL)
    match = block.match(markdown, found[0].end())
    if match is None:
        raise BlockError(f"no fenced code block right after '<!-- {name} -->' in README.md")
    return textwrap.dedent(match[2])


def main(argv: list[str] | None = None) -> int:
    """Print the block; 0, or 2 with one line on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the marker's name, e.g. pi-install")
    parser.add_argument("--repository", metavar="PATH",
                        help=f"what replaces {PLACEHOLDER!r} (a local clone for CI)")
    parser.add_argument("--readme", type=Path, default=README, help="default: the repo's")
    args = parser.parse_args(argv)
    try:
        text = marked_block(args.readme.read_text(encoding="utf-8"), args.name)
    except (OSError, BlockError) as exc:
        print(f"readme_block: {exc}", file=sys.stderr)
        return 2
    if args.repository is not None:
        if PLACEHOLDER not in text:
            print(f"readme_block: {PLACEHOLDER!r} is not in the block", file=sys.stderr)
            return 2
        text = text.replace(PLACEHOLDER, args.repository)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
