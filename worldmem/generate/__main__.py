"""``python -m worldmem.generate ARGS``: the same as ``worldmem generate ARGS``."""

import sys

from worldmem.generate import main

sys.exit(main())
