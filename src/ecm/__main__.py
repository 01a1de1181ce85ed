"""``python -m ecm`` — same as the ``ecm`` console script."""

import sys

from ecm.cli import main

sys.exit(main())
