"""`python -m intake`: the same as the `intake` command."""

import sys

from intake.cli import main

sys.exit(main())
