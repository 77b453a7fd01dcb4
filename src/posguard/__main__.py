"""`python -m posguard` is the `posguard` command."""

from posguard.cli import main

if __name__ == "__main__":
    main()
