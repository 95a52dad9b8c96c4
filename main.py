"""Responder Console: `python main.py --help`."""

from console.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
