"""``python -m worldmem.explore ARGS``: the same as ``worldmem explore ARGS``."""

import sys

from worldmem.explore import main

sys.exit(main())
