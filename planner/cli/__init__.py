"""The command line (`planner.cli.app`): a thin shell over the library, one module per verb."""
from planner.cli.app import main

__all__ = ["main"]
