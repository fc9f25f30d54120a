"""The `lab` subcommands, one module per group; each has `register(subparsers)`."""

from cli.commands import catalog_cmds, control_cmds, engine_cmds, experiment_cmds, open_cmds, records_cmds, report_cmds

COMMAND_MODULES = [catalog_cmds, experiment_cmds, control_cmds, engine_cmds, open_cmds, records_cmds, report_cmds]

from cli.commands import agent_cmds, rating_cmds  # noqa: E402  the research team: sprint, research, findings; rating

COMMAND_MODULES += [agent_cmds, rating_cmds]

from cli.commands import publish_cmds  # noqa: E402  the roadmap and the publication

COMMAND_MODULES.append(publish_cmds)

from cli.commands import llm_cmds  # noqa: E402  the research team's language model: `lab llm check`

COMMAND_MODULES.append(llm_cmds)
