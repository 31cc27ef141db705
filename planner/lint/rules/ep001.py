"""EP001 invalid-document: the file is not valid YAML, not an edgeplan document, or does not
validate against the manifest or spec schema. Reported by the engine itself (no other rule
can run on such a file); it cannot be ignored or suppressed, and it makes `lint` exit 2."""
from __future__ import annotations

from planner.lint.model import Rule


class InvalidDocument(Rule):
    """The file is not a valid edgeplan manifest or spec.

    Anti-pattern: YAML that does not parse, a misspelled field, a quantity in the wrong unit,
    or a file that is not an edgeplan document at all:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb}]
        workloads:
          - {name: cam, model: yolov8n, precison: fp16, device: jetson-orin-nano-8gb}

    Why it matters: a lenient loader hides these mistakes. A misspelled key is an extra key
    nothing reads, so the deployment silently runs on a default (here no precision at all), and
    a repeated key silently keeps one of its values although YAML requires the keys of a mapping
    to be unique. A document lint cannot read cannot be checked for anything else, which is why
    this rule cannot be turned off.
    Source: YAML Language Development Team, "YAML Ain't Markup Language (YAML) version 1.2.2"
    (a mapping is a set of key/value pairs "with the restriction that each of the keys is
    unique") <https://yaml.org/spec/1.2.2/>

    Fix: correct the field named in the message (here `precision`). `edgeplan schema manifest`
    prints the schema. This rule cannot be ignored or suppressed, and it makes lint exit 2.

    Passing example:

        apiVersion: edgeplan/v1
        kind: Deployment
        devices: [{id: jetson-orin-nano-8gb}]
        workloads:
          - {name: cam, model: yolov8n, precision: fp16, device: jetson-orin-nano-8gb}
    """
    id = "EP001"
    name = "invalid-document"
    severity = "error"
    solver_reason = None
    applies_to = ("manifest", "spec")

    @staticmethod
    def check(ctx):
        return iter(())          # the engine reports parse and schema errors under this id
