"""`python -m intake`: the same as the `intake` command."""

import sys

from intake.cli.main import main

sys.exit(main())
