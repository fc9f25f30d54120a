"""The `lab` subcommands, one module per group; each has `register(subparsers)`.

`COMMANDS` says which module registers each command, so that a command imports its own module
only: importing all of them costs every `lab` call about 0.15 s of CPU (records, analysis,
agents), and scripts and the engine's helpers run hundreds of calls. tests/cli/test_commands.py
checks the table against what the modules register.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: the modules in the order `lab --help` lists their commands
MODULES = ("catalog_cmds", "experiment_cmds", "control_cmds", "engine_cmds", "open_cmds", "records_cmds",
           "report_cmds", "agent_cmds", "rating_cmds", "publish_cmds", "llm_cmds")

COMMANDS = {
    "list": "catalog_cmds",
    **dict.fromkeys(("run", "queue", "submit", "status", "show", "logs"), "experiment_cmds"),
    **dict.fromkeys(("approve", "reject", "cancel", "retry", "priority", "pause", "resume"), "control_cmds"),
    "engine": "engine_cmds",
    **dict.fromkeys(("open", "serve", "keys"), "open_cmds"),
    **dict.fromkeys(("tree", "diff", "export"), "records_cmds"),
    **dict.fromkeys(("report", "paper", "reproduce"), "report_cmds"),
    **dict.fromkeys(("sprint", "research", "findings"), "agent_cmds"),  # the research team
    "rating": "rating_cmds",
    **dict.fromkeys(("roadmap", "publish"), "publish_cmds"),  # the roadmap and the publication
    "llm": "llm_cmds",  # the research team's language model: `lab llm check`
}


def command_modules(command: str | None = None) -> list[ModuleType]:
    """The module that registers `command`; every module when it is None or unknown (help, and
    argparse's list of choices in its error)."""
    names = [COMMANDS[command]] if command in COMMANDS else MODULES
    return [importlib.import_module(f"{__name__}.{name}") for name in names]
