"""``python -m bids_app`` is the same program as the ``ssl-ieeg`` command."""

import sys

from bids_app.cli import main

sys.exit(main())
