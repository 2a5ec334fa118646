"""``python -m streamwise`` runs the CLI (how supervised child processes are started)."""

from streamwise.cli import main

main()
