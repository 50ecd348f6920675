"""Entry point of ``python3 -m localcluster``."""

import sys

from localcluster.cli import main

sys.exit(main())
