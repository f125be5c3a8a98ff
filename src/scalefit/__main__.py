"""``python -m scalefit ...`` is the ``scalefit`` command."""

import sys

from scalefit.cli.main import main

sys.exit(main())
