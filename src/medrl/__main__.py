"""`python -m medrl`: the same command line as `medrl`."""

from medrl.cli import app

app(prog_name="medrl")
