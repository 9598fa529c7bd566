import sys

from data_curation.cli import main

sys.exit(main())
