import sys

from irsde.cli import main

sys.exit(main())
