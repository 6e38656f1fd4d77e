"""Run the command line with ``python -m nforge_app``."""
import sys

from nforge_app.cli import main

sys.exit(main())
