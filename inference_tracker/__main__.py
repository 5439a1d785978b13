"""`python -m inference_tracker` and the `tracker` console script.

A Ctrl-C while the program is still importing its libraries ends it with 130 and no
traceback, like one a moment later (cli.main reports that one)."""

import sys


def main() -> None:
    try:
        from inference_tracker.cli import main as run
    except KeyboardInterrupt:
        sys.exit(130)
    run()


if __name__ == "__main__":
    main()
