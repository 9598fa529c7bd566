"""The commands' argument parser: every error is one line ``<prog>: error: <message>`` and exit status 2.

argparse prints its usage block before an error; the commands of this toolkit report every bad input in the one
line that their own checks use (``parser.exit(2, f"{parser.prog}: error: {message}\\n")``), argparse's own errors
(a missing or unknown flag, a value of the wrong type) included. ``--help`` still shows the usage.
"""

from __future__ import annotations

import argparse

__all__ = ["ArgumentParser"]


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line (sub-command parsers inherit it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")
