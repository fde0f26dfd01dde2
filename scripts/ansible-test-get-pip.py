"""Stand-in for pip's get-pip.py bootstrap script, which ansible-test downloads from a host
CI cannot reach. It runs the pip wheel bundled with this Python's ensurepip: the same
`pip install <packages>` the real script performs; packages still come from PyPI.
scripts/quality copies it to where ansible-test caches the bootstrap script."""
import glob
import os
import sys

import ensurepip

wheel = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))[-1]
sys.path.insert(0, wheel)

from pip._internal.cli.main import main  # noqa: E402  (importable only from the wheel above)

# get-pip.py's own options; everything else is plain pip install arguments.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install"] + args))
