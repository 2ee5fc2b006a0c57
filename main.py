"""Start Neural Media Studio: no arguments opens the desktop app, arguments run the CLI."""

import sys


def main() -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # codec sweeps use spawned workers (frozen builds too)
    if len(sys.argv) > 1:
        from studio.cli import main as cli_main

        return cli_main(sys.argv[1:])
    from ui.app import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())
