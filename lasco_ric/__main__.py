import sys

from lasco_ric.cli import main

sys.exit(main())
