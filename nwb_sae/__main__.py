"""``python -m nwb_sae`` runs the same command line as ``nwb-sae``."""

import sys

from nwb_sae.cli import main

sys.exit(main())
