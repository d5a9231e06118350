"""``python -m nnkernels`` runs the command line."""

import sys

from nnkernels.cli import main

sys.exit(main())
