"""`edgeplan schema`: JSON Schemas for editors and CI."""
from __future__ import annotations

import json

import click


@click.command()
@click.argument("what", type=click.Choice(["spec", "manifest", "catalog"]))
def schema(what):
    """Print the JSON Schema (draft-07) of a spec, a deployment manifest or a catalog file.

    Save it and point your editor at it with a first line such as
    `# yaml-language-server: $schema=./edgeplan-spec.schema.json`.

    Example: edgeplan schema spec > edgeplan-spec.schema.json
    """
    from planner.spec import draft07
    if what == "spec":
        from planner.spec import Spec as model
    elif what == "manifest":
        from planner.manifest import Manifest as model
    else:
        from planner.catalog.schema import CatalogFile as model
    click.echo(json.dumps(draft07(model, f"edgeplan {what}"), indent=2, sort_keys=True))
