"""``python -m scalefit ...`` is the ``scalefit`` command."""

import sys

from .cli import main

sys.exit(main())
