"""``python -m kvjax ...``: the same as the ``kvjax`` command (and the target of the sweep's
huge-page re-exec, which must not go through the console script again)."""

import sys

from .cli import main

sys.exit(main())
