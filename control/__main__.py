"""``python -m control`` runs the ``atomstack`` command line."""

import sys

from control.cli import main

sys.exit(main())
