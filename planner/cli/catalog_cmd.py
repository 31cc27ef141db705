"""`edgeplan catalog list|show|validate`."""
from __future__ import annotations

import json

import click

from planner.cli.common import catalog_option, load_catalog_for_cli


@click.group()
def catalog():
    """Browse and check the device catalog and model profiles.

    Example: edgeplan catalog list devices --family jetson
    """


def _device_row(d):
    best = d.default_unit
    tops, tops_precision = d.headline_tops()
    return {"id": d.id, "family": d.family, "name": d.name,
            "memory_gb": d.memory.total_gb, "peak_tops": tops,
            "peak_precision": tops_precision,
            "precisions": sorted({p for u in d.units for p in u.precisions},
                                 key=["fp32", "fp16", "int8", "int4"].index),
            "max_power_w": d.max_mode.power_w, "price_usd": d.price.usd,
            "price_kind": d.price_kind,
            "default_unit": best.id, "as_of": d.as_of}


def _model_row(m):
    return {"id": m.id, "family": m.family, "task": m.task, "name": m.name,
            "params_m": m.size.params_m, "macs_g": m.size.macs_g, "input": m.size.input,
            "precisions": sorted({o.precision for o in m.options},
                                 key=["fp32", "fp16", "int8", "int4"].index)}


def _table(rows, cols):
    if not rows:
        return "(none)"
    def fmt(v):
        if isinstance(v, float):
            return f"{v:g}"
        if isinstance(v, list):
            return ",".join(v)
        return str(v)
    cells = [[fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


@catalog.command("list")
@click.argument("what", type=click.Choice(["devices", "models"]), default="devices")
@click.option("--family", help="Only this family (device or model family).")
@click.option("--task", help="Only models of this task.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@catalog_option
def list_(what, family, task, fmt, catalog_dirs, no_builtin):
    """List devices or models.

    Example: edgeplan catalog list models --task llm --format json
    """
    cat = load_catalog_for_cli(catalog_dirs, no_builtin)
    if what == "devices":
        items = [d for d in cat.devices.values() if not family or d.family == family]
        rows = [_device_row(d) for d in sorted(items, key=lambda d: (d.family, d.id))]
        cols = ["id", "family", "memory_gb", "peak_tops", "peak_precision", "precisions",
                "max_power_w", "price_usd", "price_kind"]
    else:
        items = [m for m in cat.models.values()
                 if (not family or m.family == family) and (not task or m.task == task)]
        rows = [_model_row(m) for m in sorted(items, key=lambda m: (m.task, m.family, m.id))]
        cols = ["id", "task", "family", "params_m", "macs_g", "input", "precisions"]
    if family and not rows:
        from planner.errors import UnknownIdError, did_you_mean
        fams = {d.family for d in cat.devices.values()} if what == "devices" else \
            {m.family for m in cat.models.values()}
        raise UnknownIdError(f"no {what} in family {family!r}{did_you_mean(family, fams)}",
                             field="--family")
    click.echo(json.dumps(rows, indent=2) if fmt == "json" else _table(rows, cols))


@catalog.command()
@click.argument("item_id")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@catalog_option
def show(item_id, fmt, catalog_dirs, no_builtin):
    """Show everything the catalog knows about one device or model, with sources.

    Example: edgeplan catalog show jetson-orin-nano-8gb
    """
    import yaml

    from planner.errors import UnknownIdError, did_you_mean
    cat = load_catalog_for_cli(catalog_dirs, no_builtin)
    if item_id in cat.devices:
        kind, obj = "device", cat.devices[item_id]
        extra = {"measurements": [m.model_dump(exclude_defaults=True) for m in cat.measurements
                                  if m.device == item_id]}
    elif item_id in cat.models:
        kind, obj = "model", cat.models[item_id]
        extra = {}
        if obj.llm:
            extra["kv_cache_bytes_per_token_fp16"] = obj.llm.kv_bytes_per_token(2.0)
    else:
        raise UnknownIdError(f"unknown device or model {item_id!r}"
                             f"{did_you_mean(item_id, list(cat.devices) + list(cat.models))}",
                             field="ID")
    data = {"kind": kind, **obj.model_dump(mode="json", exclude_defaults=True), **extra,
            **({"as_of": obj.as_of} if kind == "device" else {}),
            "defined_in": cat.origin[f"{kind}:{item_id}"]}
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())


@catalog.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@catalog_option
def validate(directory, catalog_dirs, no_builtin):
    """Check catalog and profile YAML: schema, units, sources, references between files.

    Without DIRECTORY, checks the built-in catalog (plus any --catalog). Exits 2 on the
    first problem, naming file, line and field.

    Example: edgeplan catalog validate my-devices/
    """
    dirs = tuple(catalog_dirs) + ((directory,) if directory else ())
    cat = load_catalog_for_cli(dirs, no_builtin)
    if directory:
        from pathlib import Path
        root = str(Path(directory).resolve())
        mine = [k for k, f in cat.origin.items() if str(Path(f).resolve()).startswith(root)]
        kinds = {k: sum(1 for x in mine if x.startswith(k + ":"))
                 for k in ("device", "model", "op_support", "runtime")}
        click.echo(f"ok: {directory}: {kinds['device']} devices, {kinds['model']} models, "
                   f"{kinds['op_support']} op-support tables, {kinds['runtime']} runtimes, "
                   f"valid together with the rest of the catalog")
    click.echo(f"ok: {len(cat.devices)} devices in {len(cat.families())} families, "
               f"{len(cat.models)} models in {len({m.task for m in cat.models.values()})} tasks, "
               f"{len(cat.measurements)} measurements, {len(cat.op_support)} op-support tables")


@catalog.command()
@click.argument("old_dir", type=click.Path(file_okay=False))
@click.argument("new_dir", required=False, type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--exit-code", "exit_code", is_flag=True,
              help="Exit 1 when the catalogs differ (as git diff --exit-code), 0 when not.")
def diff(old_dir, new_dir, fmt, exit_code):
    """List what changed from the catalog in OLD_DIR to NEW_DIR (default: the built-in one).

    Devices, models, measurements, op-support tables and runtimes added and removed, and
    every changed fact as `kind id: field.path old -> new`. A directory holding catalog/ or
    profiles/ (a checkout of edgeplan) is read as the built-in layout. Exits 0, or with
    --exit-code 1 when there are differences; 2 on a directory that is missing or invalid.

    Example: edgeplan catalog diff old-checkout/ --format json
    """
    from planner.catalog.diff import diff_catalogs, render_text
    from planner.exitcodes import DIFFERS
    d = diff_catalogs(old_dir, new_dir)
    click.echo(json.dumps(d.as_dict(), indent=2, sort_keys=False) if fmt == "json"
               else render_text(d))
    if exit_code and not d.empty:
        raise SystemExit(DIFFERS)
