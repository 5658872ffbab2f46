"""The typer CLI: the only layer that prints or picks exit codes. Nothing imports it."""
