"""``python -m scalefit ...`` is the ``scalefit`` command."""

from scalefit.cli.main import command

command()
