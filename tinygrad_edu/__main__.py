"""``python -m tinygrad_edu train|evaluate|predict``: see ``tinygrad_edu.cli``."""

import sys

from .cli import main

sys.exit(main())
