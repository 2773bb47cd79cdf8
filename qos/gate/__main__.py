"""`python -m qos.gate` = `liveroom-gate`."""

import sys

from .cli import main

sys.exit(main())
