"""``python -m rapp``: the ``csi-rapp`` command."""

import sys

from rapp.cli import main

sys.exit(main())
