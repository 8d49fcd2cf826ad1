"""``python -m sample_project``: start everything (see :mod:`sample_project.run`)."""

from __future__ import annotations

import sys

from sample_project.run import main

if __name__ == "__main__":
    sys.exit(main())
