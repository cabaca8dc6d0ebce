"""``python -m hodphys …`` (and ``torchrun -m hodphys …``) is the ``hodphys`` command."""
import sys

from hodphys.app.cli import main

sys.exit(main())
