"""Every key binding of the control room: an id, default keys, an action and a description.

Bindings are remappable by id (Posting-style): a `[keys]` table in the lab's config.toml, then
the user's own keymap file (`$JOULELAB_KEYMAP`, default `~/.config/joulelab/keymap.toml`),
override the defaults. Either file maps ids to keys, flat or nested:

    [keys]
    "approval.approve" = "y"          # one key
    "app.quit" = "q,ctrl+q"           # several keys
    [keys.exp]
    cancel = "x"                      # the same as "exp.cancel" = "x"

`lab keys` prints every id with its keys; `?` in the control room shows them too.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding, BindingType

ENV_KEYMAP = "JOULELAB_KEYMAP"
DEFAULT_KEYMAP = Path("~/.config/joulelab/keymap.toml")


@dataclass(frozen=True)
class Key:
    id: str
    keys: str
    action: str
    description: str
    help: str = ""
    show: bool = True
    changes: bool = False  # refused in --readonly mode
    priority: bool = False
    key_display: str | None = None

    def binding(self) -> Binding:
        return Binding(self.keys, self.action, self.description, show=self.show, id=self.id,
                       priority=self.priority, key_display=self.key_display,
                       tooltip=self.help or self.description)


APP = [
    Key("app.quit", "q", "quit", "Quit", "leave the control room; the engine and its runs keep going"),
    Key("app.help", "question_mark", "help", "Help", "every key of this screen, its id and what it does",
        key_display="?"),
    # shown at the footer's right end by Textual itself
    Key("app.palette", "ctrl+p", "command_palette", "Palette", "search every action by name", priority=True,
        show=False),
    Key("app.back", "escape", "back", "Back", "close this screen and go back"),
    Key("app.engine", "S", "start_engine", "Start engine",
        "start the lab engine again (offered when it is down)", changes=True),
    # Textual's own focus keys, named here so that `?` lists them: the dialogue's history is
    # reached by focusing it and paging up
    Key("app.focus_next", "tab", "focus_next", "Next panel", "move the focus to the next panel (queue, dialogue, "
        "ratings); in the dialogue, PageUp and PageDown scroll its history", show=False),
    Key("app.focus_previous", "shift+tab", "focus_previous", "Previous panel", "move the focus to the previous "
        "panel", show=False),
]

DASHBOARD = [
    Key("exp.detail", "enter", "open_detail", "Detail", "the selected experiment: plan, runs, metrics, "
        "curves, rating, dialogue, genealogy, logs"),
    Key("lab.proposals", "p", "proposals", "Proposals", "review the proposals waiting for approval"),
    Key("lab.sprint", "s", "sprint", "Sprint", "ask the research team for one sprint now (in the background, "
        "like `lab sprint`); its dialogue appears as it is written", changes=True),
    Key("lab.research", "R", "toggle_research", "Research", "switch the engine's background research "
        "on or off (sprint after sprint, within the budgets)", changes=True),
    Key("lab.tracker", "t", "tracker", "Tracker", "the research tracker: quality bands, success rate, "
        "breakthroughs, the best speedup, compression and energy saving, each agent's contribution"),
    Key("lab.roadmap", "m", "roadmap", "Roadmap", "the roadmap: each phase's success criteria, met or not, with "
        "their evidence and what would meet them, the proposals that served them, and the metrics it tracks"),
    Key("queue.filter", "slash", "filter", "Filter", "filter the queue by id, name, entry, state or variant",
        key_display="/"),
    Key("queue.clear_filter", "escape", "clear_filter", "Clear filter", "show the whole queue again"),
    Key("lab.new", "n", "new_experiment", "New", "a new experiment from the catalog", changes=True),
    Key("dialogue.follow", "f", "toggle_follow", "Follow", "the dialogue follows the selected experiment or all"),
    Key("lab.pause", "P", "toggle_pause", "Pause/resume", "pause the queue (running runs go on) or resume it",
        changes=True),
    Key("lab.autonomy", "A", "autonomy", "Autonomy", "change the autonomy level (1 assisted .. 3 autonomous)",
        changes=True),
]

EXPERIMENT = [
    Key("exp.cancel", "c", "cancel", "Cancel", "cancel the selected experiment or run (asks first)", changes=True),
    Key("exp.cancel_now", "C", "cancel_now", "Cancel now", "cancel the selected experiment or run at once",
        changes=True),
    Key("exp.retry", "r", "retry", "Retry", "queue the failed, cancelled or timed-out runs again", changes=True),
    Key("exp.priority_up", "plus", "priority(1)", "Priority+", "raise the priority by one", changes=True,
        key_display="+"),
    Key("exp.priority_down", "minus", "priority(-1)", "Priority-", "lower the priority by one", changes=True,
        key_display="-"),
]

QUEUE_NAV = [
    Key("queue.down", "down,j", "cursor_down", "Down", "next row", show=False),
    Key("queue.up", "up,k", "cursor_up", "Up", "previous row", show=False),
    Key("queue.page_down", "pagedown", "page_down", "Page down", "a page down", show=False),
    Key("queue.page_up", "pageup", "page_up", "Page up", "a page up", show=False),
    Key("queue.top", "home", "scroll_top", "Top", "the first row", show=False),
    Key("queue.bottom", "end", "scroll_bottom", "Bottom", "the last row", show=False),
]

APPROVAL = [
    Key("approval.approve", "a", "approve", "Approve", "approve this proposal: its runs are queued", changes=True),
    Key("approval.reject", "r", "reject", "Reject", "reject this proposal, with a reason the researcher reads",
        changes=True),
    Key("approval.edit", "e", "edit", "Edit", "edit its parameters (checked against the catalog)", changes=True),
    Key("approval.next", "j,down", "next", "Next", "the next proposal", key_display="j/↓"),
    Key("approval.prev", "k,up", "prev", "Previous", "the previous proposal", key_display="k/↑"),
]

DETAIL = [
    Key("detail.next_tab", "right", "next_tab", "Next tab", "the next section", key_display="→", priority=True),
    Key("detail.prev_tab", "left", "prev_tab", "Prev tab", "the previous section", key_display="←",
        priority=True),
    Key("detail.next_run", "right_square_bracket", "next_run", "Next run", "curves and logs of the next run",
        key_display="]"),
    Key("detail.prev_run", "left_square_bracket", "prev_run", "Prev run",
        "curves and logs of the previous run", key_display="["),
    Key("detail.log_stream", "l", "log_stream", "stderr/stdout", "switch the log between stderr and stdout"),
]

FORM = [
    Key("form.submit", "ctrl+s", "submit", "Submit", "check the form and send it", priority=True),
    Key("form.cancel", "escape", "cancel", "Cancel", "close without changing anything"),
]

CONFIRM = [
    Key("confirm.yes", "y", "yes", "Yes", "do it"),
    Key("confirm.no", "n,escape", "no", "No", "do nothing", key_display="n/esc"),
]

CHOICE = [
    Key("choice.pick", "enter", "pick", "Choose", "take the highlighted choice"),
    Key("choice.cancel", "escape", "cancel", "Cancel", "close without changing anything"),
]

SCOPES: dict[str, list[Key]] = {
    "app": APP, "dashboard": DASHBOARD, "experiment": EXPERIMENT, "queue": QUEUE_NAV,
    "approval": APPROVAL, "detail": DETAIL, "form": FORM, "confirm": CONFIRM, "choice": CHOICE,
}

ALL: dict[str, Key] = {k.id: k for scope in SCOPES.values() for k in scope}
CHANGING_ACTIONS = frozenset(k.action.split("(")[0] for k in ALL.values() if k.changes)


def bindings(*scopes: list[Key]) -> list[BindingType]:
    return [k.binding() for scope in scopes for k in scope]


def _flatten(table: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """A keymap table as read from TOML (nested tables: dotted ids) -> {id: its value as written}."""
    out: dict[str, object] = {}
    for name, value in table.items():
        full = f"{prefix}{name}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{full}."))
        else:
            out[full] = value
    return out


def parse_keymap(table: Mapping[str, object], source: str) -> tuple[dict[str, str], list[str]]:
    """A keymap table (flat or nested) as {id: keys}, and one problem line per bad entry."""
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in _flatten(table).items():
        if binding_id not in ALL:
            problems.append(f"{source}: unknown key binding id {binding_id!r} (see `?` for the ids)")
            continue
        if isinstance(keys, list):
            keys = ",".join(str(k) for k in keys)
        if not isinstance(keys, str) or not keys.strip():
            problems.append(f"{source}: {binding_id} must be a key such as \"x\" or \"ctrl+x\", got {keys!r}")
            continue
        keymap[binding_id] = ",".join(k.strip() for k in keys.split(",") if k.strip())
    return keymap, problems


def user_keymap_path() -> Path:
    return Path(os.environ.get(ENV_KEYMAP) or DEFAULT_KEYMAP).expanduser()


def load_keymap(lab_keys: Mapping[str, object] | None, user_file: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """The lab's `[keys]` table, then the user's keymap file over it."""
    keymap, problems = parse_keymap(lab_keys or {}, "config.toml [keys]")
    path = user_file if user_file is not None else user_keymap_path()
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path}: cannot read it ({exc})")
        else:
            table = raw.get("keys", raw) if isinstance(raw.get("keys", raw), dict) else {}
            more, more_problems = parse_keymap(table, str(path))
            keymap.update(more)
            problems += more_problems
    return keymap, problems


def keys_for(binding_id: str, keymap: dict[str, str]) -> str:
    """The keys a binding answers to under `keymap`, as typed in a keymap file."""
    return keymap.get(binding_id, ALL[binding_id].keys)


def display_keys(keys: str) -> str:
    names = {"question_mark": "?", "slash": "/", "plus": "+", "minus": "-", "escape": "esc",
             "left_square_bracket": "[", "right_square_bracket": "]", "down": "↓", "up": "↑",
             "pagedown": "pgdn", "pageup": "pgup"}
    return " ".join(names.get(k, k) for k in keys.split(","))


def in_force(screen: object) -> list[tuple[str, list[Key]]]:
    """The bindings in force on a screen, by scope (its `KEY_SCOPES`, then the app's), for `?` and
    the palette."""
    scopes = [(name, scope) for name, scope in SCOPES.items()
              if any(scope is s for s in getattr(screen, "KEY_SCOPES", []))]
    return [*scopes, ("app", APP)]
