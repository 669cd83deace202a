"""``python -m tinygrad_edu train|evaluate|predict``: see ``tinygrad_edu.app.cli``."""

import sys

from .app.cli import main

sys.exit(main())
