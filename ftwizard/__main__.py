"""`python -m ftwizard` is the `ftwizard` command."""

from ftwizard.cli.main import entry

if __name__ == "__main__":
    entry()
