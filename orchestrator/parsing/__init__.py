"""TextFSM templates (parsers/) plus normalisation into models with explicit units.

parse_output(platform, command, text) -> ParsedOutput
guess_command(platform, text) -> str
"""

from orchestrator.parsing.output import ParsedOutput
from orchestrator.parsing.parse import guess_command, parse_output

__all__ = ["ParsedOutput", "guess_command", "parse_output"]
