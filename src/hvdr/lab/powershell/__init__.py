"""The lab's PowerShell: exactly the subset ``hvdr.hyperv`` emits (GRAMMAR.md), run against a PSHost.

``parse`` turns text into a tree or raises :class:`ParseError`; ``run_script`` runs it and returns the exit
code and the CLIXML stderr; ``decode_command_line`` unwraps ``powershell -EncodedCommand``.
"""

from hvdr.lab.powershell.clixml import ErrorRecord, to_clixml
from hvdr.lab.powershell.commandline import CommandLineError, decode_command_line
from hvdr.lab.powershell.evaluator import RunResult, run_script
from hvdr.lab.powershell.jsonout import convert_to_json
from hvdr.lab.powershell.parser import ALL_FEATURES, ParseError, parse

__all__ = [
    "ALL_FEATURES",
    "CommandLineError",
    "ErrorRecord",
    "ParseError",
    "RunResult",
    "convert_to_json",
    "decode_command_line",
    "parse",
    "run_script",
    "to_clixml",
]
