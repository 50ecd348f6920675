"""Entry point: ``python3 -m s3stack build|up|down|status|logs``."""

import sys

from s3stack.cli import main

sys.exit(main())
