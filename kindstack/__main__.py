import sys

from kindstack.cli import main

sys.exit(main())
