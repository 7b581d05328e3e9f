import sys
from pathlib import Path

# The stream helpers live next to the tests.
sys.path.insert(0, str(Path(__file__).parent))
