"""`python -m lowtf.cli ...`, the same as the `lowtf` command."""

import sys

from lowtf.cli import main

sys.exit(main())
