"""`lab tree`, `lab diff`, `lab export`: the lab's records for people and tools."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.commands.common import ProgressLine, add_json, experiment_or_refuse, table
from cli.context import CommandError, Context
from contract import quantities, units
from records import compare, genealogy, provenance, snapshot
from records.export import FORMATS, ExportError, export
from records.genealogy import render_tree


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tree", help="the lineage of experiments (parents, children, what changed and why)")
    p.add_argument("id", nargs="?", type=int, help="one experiment: its ancestors and descendants")
    p.set_defaults(func=tree)

    p = sub.add_parser("diff", help="what changed between two experiments: parameters, code, results")
    p.add_argument("a", type=int, help="experiment id")
    p.add_argument("b", type=int, help="experiment id")
    add_json(p)
    p.set_defaults(func=diff)

    p = sub.add_parser("export", help="experiments, runs, metrics and ratings as CSV/JSON/Parquet, to MLflow, "
                                      "or as TensorBoard event files")
    p.add_argument("--format", choices=FORMATS, default="csv", help="file format (default csv)")
    p.add_argument("--out", default=None, help="directory to write (default <lab>/export)")
    p.add_argument("--mlflow", metavar="TRACKING_URI", default=None,
                   help="log to MLflow instead (e.g. sqlite:///mlflow.db or http://localhost:5000)")
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="write every run's metrics as TensorBoard event files into DIR instead "
                        "(`tensorboard --logdir DIR`; needs the extra: pip install 'joulelab[tensorboard]')")
    p.add_argument("--wandb", metavar="PROJECT", nargs="?", const="joulelab", default=None,
                   help="send past runs to Weights & Biases, project PROJECT (default joulelab): a run's own W&B run "
                        "is synced, any other becomes one; offline (no key, WANDB_MODE=offline) they are written "
                        "under --out (default <lab>/wandb) for `wandb sync` (pip install 'joulelab[wandb]')")
    p.add_argument("--experiment", type=int, action="append", default=None, metavar="ID",
                   help="with --wandb: only this experiment (repeatable)")
    p.set_defaults(func=export_cmd)


async def tree(args: argparse.Namespace, ctx: Context) -> int:
    store = await ctx.store()
    experiments = await store.list_experiments()
    if args.id is not None and not any(e.id == args.id for e in experiments):
        raise CommandError(f"no experiment with id {args.id} (see `lab status`)", 2)
    ctx.out(render_tree(experiments, args.id) or "no experiments yet")
    return 0


async def diff(args: argparse.Namespace, ctx: Context) -> int:
    store = await ctx.store()
    a, b = [await experiment_or_refuse(ctx, exp_id) for exp_id in (args.a, args.b)]
    runs = [await store.list_runs(e.id) for e in (a, b)]
    params = compare.param_changes(a.params, b.params)
    hashes = [compare.code_hashes(r) for r in runs]
    means = [compare.variant_means(r) for r in runs]
    data = provenance.dataset_differences(*runs)
    envs = [provenance.environment(r, provenance.record_folder(ctx.lab.exp, e.id))[0] for r, e in zip(runs, (a, b))]
    env = snapshot.differences(*envs)
    child = b if b.parent_id == a.id else a if a.parent_id == b.id else None
    if ctx.as_json:
        ctx.out_json({"a": a.id, "b": b.id, "catalog": [a.catalog, b.catalog],
                      "params": [{"param": k, "a": va, "b": vb} for k, va, vb in params],
                      "seeds": [a.seeds, b.seeds], "code": [sorted(h) for h in hashes],
                      "results": means,
                      "modifications": None if child is None else
                      {"child": child.id, "changes": [c.__dict__ for c in genealogy.changes(child)],
                       "rationale": genealogy.rationale(child)},
                      "data": [{"dataset": n, "a": x, "b": y} for n, x, y in data],
                      "environment": [{"what": w, "a": x, "b": y} for w, x, y in env]})
        return 0
    ctx.out(f"experiment {a.id} {a.name} ({a.catalog})  vs  experiment {b.id} {b.name} ({b.catalog})")
    if child is not None:
        ctx.out(f"{child.id} is a child of the other: " + (genealogy.describe(child) or "no change recorded"))
    ctx.out()
    ctx.out("parameters:" if params or a.seeds != b.seeds else "parameters: identical")
    for key, va, vb in params:
        ctx.out(f"  {key}: {va} -> {vb}")
    if a.seeds != b.seeds:
        ctx.out(f"  seeds: {a.seeds} -> {b.seeds}")
    ctx.out(_code_line(a.id, b.id, *hashes))
    ctx.out("data: " + ("the same versions" if not data else "changed"))
    for name, x, y in data:
        ctx.out(f"  {name}: sha256 {x} -> {y}")
    ctx.out("environment: " + ("the same packages" if not env else f"{len(env)} difference(s)"))
    for what, before, after in env[:20]:
        ctx.out(f"  {what}: {before or units.MISSING} -> {after or units.MISSING}")
    ctx.out()
    ctx.out(_results_table(a.id, b.id, means))
    return 0


def _code_line(a: int, b: int, code_a: set[str], code_b: set[str]) -> str:
    """Whether the programs' code (its sha256 per run) is the same in experiments a and b."""
    if not code_a or not code_b:
        return "code: not recorded for both (runs not started yet)"
    if code_a == code_b:
        return f"code: identical (sha256 {next(iter(code_a))[:12]})"
    return (f"code: changed ({', '.join(h[:12] for h in sorted(code_a))} -> "
            f"{', '.join(h[:12] for h in sorted(code_b))}); see `git diff exp/{a} exp/{b}` in the lab")


def _results_table(a: int, b: int, means: list[dict[str, dict[str, float]]]) -> str:
    """Each variant's results (means over seeds) in experiments a and b, and their change."""
    variants = sorted(set(means[0]) | set(means[1]))
    if not variants:
        return "results: none yet"
    rows = []
    for variant in variants:
        for key in compare.RESULT_KEYS:
            va, vb = means[0].get(variant, {}).get(key), means[1].get(variant, {}).get(key)
            if va is None and vb is None:
                continue
            rows.append([variant, key, units.result_value(key, va), units.result_value(key, vb), _change(key, va, vb)])
    return table(rows, ["variant", "result (mean over seeds)", f"exp {a}", f"exp {b}", "change"])


def _change(key: str, before: float | None, after: float | None) -> str:
    """How a result changed between two experiments, as its kind says it (`contract.quantities`):
    an accuracy in points, a perplexity or a loss in its unit and in % of the first, anything else
    in % of the first."""
    if before is None or after is None:
        return units.MISSING
    kind = quantities.kind_of(key)
    if quantities.info(kind).change in (quantities.Change.POINTS, quantities.Change.RELATIVE):
        return units.change(after - before, kind, before)
    return units.percent((after - before) / before, signed=True) if before else units.MISSING


async def export_cmd(args: argparse.Namespace, ctx: Context) -> int:
    store = await ctx.store()
    if sum(bool(x) for x in (args.mlflow, args.tensorboard, args.wandb)) > 1:
        raise CommandError("give one of --mlflow, --tensorboard and --wandb", 2)
    try:
        if args.wandb:
            return await _export_wandb(args, ctx)
        if args.tensorboard:
            from records.tensorboard_export import export_tensorboard

            out = Path(args.tensorboard).expanduser().resolve()
            progress = ProgressLine("writing TensorBoard event files", before="reading the runs")
            try:
                runs, points = await export_tensorboard(store, out, progress)
            finally:
                progress.end()
            ctx.out(f"wrote {runs} run(s), {points} scalar point(s) as TensorBoard event files in {out} "
                    f"(view them: tensorboard --logdir {out})")
            return 0
        if args.mlflow:
            from records.mlflow_export import export_mlflow

            progress = ProgressLine("exporting to MLflow", before="opening the MLflow store")
            try:
                exported, skipped = await export_mlflow(store, args.mlflow, progress)
            finally:
                progress.end()
            ctx.out(f"logged {exported} run(s) to MLflow at {args.mlflow}"
                    + (f" ({skipped} already there)" if skipped else ""))
            return 0
        out = Path(args.out) if args.out else ctx.lab.root / "export"
        written = await export(store, out, args.format)
    except ExportError as exc:
        raise CommandError(str(exc), 2) from None
    for path in written:
        ctx.out(str(path))
    return 0


async def _export_wandb(args: argparse.Namespace, ctx: Context) -> int:
    from records.wandb_export import export_wandb

    done = await export_wandb(await ctx.store(), ctx.lab.root, args.wandb, Path(args.out) if args.out else None,
                              args.experiment)
    if done.online:
        ctx.out(f"W&B project {args.wandb}: {len(done.created)} run(s) sent from the record, {len(done.synced)} run(s)' "
                f"own W&B runs synced" + (f", {done.skipped} already there" if done.skipped else ""))
    else:
        ctx.out(f"offline ({done.why_offline}): {len(done.created)} run(s) written as offline W&B runs in {done.folder}, "
                f"{len(done.kept_offline)} run(s)' own W&B runs left offline"
                + (f", {done.skipped} already exported" if done.skipped else "")
                + f"; send them when online with `lab export --wandb {args.wandb}` (or `wandb sync {done.folder}/wandb`)")
    for failure in done.failed:
        ctx.out(f"not synced: {failure}")
    return 1 if done.failed else 0
