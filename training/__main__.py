"""`python -m training --help` lists the commands."""

from .cli import main

raise SystemExit(main())
