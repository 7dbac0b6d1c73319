"""pytest set-up for tests/py: the harness's modules import as top-level
names (as they do for each other), and ROOT is the repository."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(ROOT, "harness")
if HARNESS not in sys.path:
    sys.path.insert(0, HARNESS)
