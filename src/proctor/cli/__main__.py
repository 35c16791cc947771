"""``python -m proctor.cli``: the ``proctor`` command."""

from proctor.cli import main

if __name__ == "__main__":
    main()
