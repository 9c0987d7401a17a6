"""``python -m tsne_native.fit``."""

import sys

from .command import main

sys.exit(main())
