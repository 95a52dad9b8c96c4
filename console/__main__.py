"""`python -m console …` is `python main.py …` (how the console starts its embedded server process)."""

from console.cli import main

raise SystemExit(main())
