"""``python -m compute <command> ...``: see ``python -m compute --help``."""

import sys

from compute.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
