"""Readings -> catalog measurements: ids checked against the catalog (with did-you-mean),
values checked against physics, and written into a user catalog directory whole or not at
all. The library never prints: callers show what `add_measurements` returns."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from planner.catalog.loader import Catalog
from planner.catalog.schema import Measurement
from planner.errors import EstimateError, InputError, UnknownIdError, did_you_mean
from planner.measure.readers import Reading, read_result

# the file in the user catalog that `calibrate add` owns (it rewrites it; other files there
# are never touched)
ADDED_FILE = Path("measurements") / "calibrate-added.yaml"
HEADER = ("# Written by `edgeplan calibrate add` (it rewrites this file; keep hand-written\n"
          "# measurements in another file of this directory).\n")
# the ids a reading must end up with, and the flag that gives each
ID_FLAGS = {"device": "--device", "model": "--model", "precision": "--precision",
            "unit": "--unit", "runtime": "--runtime", "power_mode": "--power-mode"}


@dataclass
class Added:
    measurement: Measurement
    file: str                    # the result file it came from
    duplicate: bool = False      # already in the user catalog: not added again


def _ids(r: Reading, given: dict, path: str) -> dict:
    """The reading's own ids, gaps filled by the flags; a flag that contradicts what the
    output says is an error, not a silent override."""
    ids = dict(r.ids)
    for k, v in given.items():
        if v is None:
            continue
        if k in ids and ids[k] != v:
            raise InputError(f"the output says {k} {ids[k]!r}, {ID_FLAGS[k]} says {v!r}",
                             file=path, field=ID_FLAGS[k])
        ids[k] = v
    return ids


def _resolve(catalog: Catalog, ids: dict, path: str) -> dict:
    for k in ("device", "model", "precision"):
        if not ids.get(k):
            raise InputError(f"the output does not say which {k.replace('_', ' ')}: give "
                             f"{ID_FLAGS[k]}", file=path, field=ID_FLAGS[k])
    try:
        dev = catalog.device(ids["device"])
        model = catalog.model(ids["model"])
    except UnknownIdError as e:
        raise UnknownIdError(str(e.args[0]), file=path, field=ID_FLAGS[e.field]) from None
    prec = ids["precision"]
    units = dev.units
    if ids.get("unit"):
        unit = next((u for u in units if u.id == ids["unit"]), None)
        if unit is None:
            raise UnknownIdError(f"device {dev.id!r} has no unit {ids['unit']!r}"
                                 f"{did_you_mean(ids['unit'], [u.id for u in units])} (units: "
                                 f"{', '.join(u.id for u in units)})", file=path, field="--unit")
        kind = ids.get("unit_kind")
        if kind and unit.kind != kind:
            # what ran (the output says) is not the unit the ids name: a bundle for a GPU
            # timed on a host's CPU measured that CPU, not the GPU
            same = [u for u in units if u.kind == kind and prec in u.precisions
                    and ids.get("runtime") in u.runtimes]
            if not same:
                raise InputError(f"the output timed {ids.get('runtime')} on a {kind}, not "
                                 f"{dev.id}'s {unit.id} ({unit.kind}), and {dev.id} has no "
                                 f"{kind} unit that runs it: time the bundle on the device "
                                 "itself", file=path, field="--unit")
            unit = same[0]
    else:
        kind = ids.get("unit_kind")
        fits = [u for u in units if (kind is None or u.kind == kind) and prec in u.precisions
                and (not ids.get("runtime") or ids["runtime"] in u.runtimes)]
        if not fits:
            raise InputError(f"no unit of {dev.id} runs {prec.upper()}"
                             f"{' on its ' + kind if kind else ''}"
                             f"{' with ' + ids['runtime'] if ids.get('runtime') else ''}: give "
                             f"--unit ({', '.join(u.id for u in units)})", file=path,
                             field="--unit")
        unit = fits[0]
    if prec not in unit.precisions:
        raise InputError(f"{prec.upper()} is not a precision of {dev.id} {unit.id} (it runs "
                         f"{', '.join(p.upper() for p in unit.precisions)})", file=path,
                         field="--precision")
    runtime = ids.get("runtime")
    if not runtime:
        raise InputError("the output does not say which runtime: give --runtime "
                         f"({', '.join(unit.runtimes)})", file=path, field="--runtime")
    if runtime not in unit.runtimes:
        raise InputError(f"runtime {runtime!r} does not run on {dev.id} {unit.id} (runtimes: "
                         f"{', '.join(unit.runtimes)}){did_you_mean(runtime, unit.runtimes)}",
                         file=path, field="--runtime")
    if not catalog.runs(runtime, model, dev.id):
        raise InputError(f"runtime {runtime!r} does not run {model.id} on {dev.id} "
                         "(catalog/runtimes.yaml)", file=path, field="--runtime")
    mode = ids.get("power_mode")
    modes = [m.id for m in dev.power.modes]
    if mode is not None and mode not in modes:
        raise UnknownIdError(f"device {dev.id!r} has no power mode {mode!r}"
                             f"{did_you_mean(mode, modes)} (modes: {', '.join(modes)})",
                             file=path, field="--power-mode")
    out = {"device": dev.id, "model": model.id, "precision": prec, "unit": unit.id,
           "runtime": runtime}
    if mode is not None:
        out["power_mode"] = mode
    return out


def _ceiling(catalog: Catalog, m: Measurement, path: str) -> None:
    """A value faster than the roofline at 100 % efficiency (the unit's peak compute and the
    memory bandwidth, in this power mode) is a mistake in the ids or the output: refused,
    with the ceiling named."""
    from planner.estimate.calibrate import measured_call
    c = measured_call(catalog, m)
    if c.per_call_ms >= c.ideal_ms * (1 - 1e-9):
        return
    dev = catalog.devices[m.device]
    r = c.roofline
    if m.metric == "latency_ms":
        best = f"no call takes less than {c.ideal_ms:.4g} ms"
    elif m.metric == "throughput_fps":
        best = f"at most {m.batch * 1000.0 / c.ideal_ms:.4g} fps"
    else:
        best = f"at most {1000.0 / c.ideal_ms:.4g} tokens/s"
    why = (f"compute at the unit's peak takes {r.compute_ms:.4g} ms" if
           c.regime in ("compute", "prefill") else
           f"reading the weights at {dev.bandwidth_gbs(m.power_mode):g} GB/s takes "
           f"{r.memory_ms:.4g} ms")
    raise InputError(f"{m.value:g} {m.metric} is faster than physics allows for {m.model} "
                     f"{m.precision.upper()} on {m.device} {m.unit}: {why} per call, so "
                     f"{best}; check the ids (a smaller model or another precision?)",
                     file=path, field="value")


def _key(m: Measurement) -> tuple:
    return (m.device, m.model, m.precision, m.unit, m.runtime, m.power_mode, m.batch,
            m.metric, m.value, m.source)


def measurements_from(catalog: Catalog, paths, given: dict) -> list[tuple[Measurement, str]]:
    """Every reading of every file as a checked Measurement, with the file it came from."""
    out = []
    for path in paths:
        path = os.fspath(path)
        for r in read_result(path):
            ids = _resolve(catalog, _ids(r, given, path), path)
            fields = dict(ids, batch=r.batch, metric=r.metric, value=r.value,
                          source=f"{r.tool} output {os.path.basename(path)}: {r.what}",
                          tool=r.tool, tool_version=r.tool_version,
                          measured_on=r.measured_on, host=r.host, notes=r.notes,
                          context_tokens=r.context_tokens)
            try:
                m = Measurement(**{k: v for k, v in fields.items() if v not in (None, "")})
            except ValueError as e:
                raise InputError(f"not a valid measurement: {e.errors()[0]['msg']} "
                                 f"({'.'.join(map(str, e.errors()[0]['loc']))})",
                                 file=path) from None
            try:
                _ceiling(catalog, m, path)
            except EstimateError as e:
                raise InputError(str(e.args[0]), file=path) from None
            out.append((m, path))
    return out


def _dump(ms: list[Measurement]) -> str:
    import yaml
    rows = [m.model_dump(exclude_defaults=True) for m in ms]
    return HEADER + yaml.safe_dump({"measurements": rows}, sort_keys=False,
                                   allow_unicode=True, width=100)


def _model_file_profile(catalog: Catalog, model_file, given: dict, catalog_dir):
    """The profile of the ONNX file a result measured, for a model the catalog lacks (a
    bundle of the user's own model): (catalog with it, profile path, YAML text), or None
    where the catalog has the model already."""
    import yaml

    from planner.catalog.loader import catalog_with_models
    from planner.onnxfile.profile import profile_as_model
    mid = given.get("model") or os.path.splitext(os.path.basename(model_file))[0].lower()
    if mid in catalog.models:
        return None
    m = profile_as_model(os.fspath(model_file), mid, task="custom")
    text = ("# Written by `edgeplan calibrate add --model-file`: the profile of "
            f"{os.path.basename(model_file)}\n" +
            yaml.safe_dump({"models": [m.model_dump(mode="json", exclude_defaults=True)]},
                           sort_keys=False, allow_unicode=True, width=100))
    return catalog_with_models(catalog, [m]), Path(catalog_dir) / "profiles" / f"{mid}.yaml", text


def add_measurements(catalog: Catalog, paths, catalog_dir, given: dict, *,
                     model_file=None) -> list[Added]:
    """Read, check and add the results to `catalog_dir`/measurements/calibrate-added.yaml
    (created with its directories; rewritten whole, atomically). `catalog` is the catalog
    the ids are checked against (the built-in one plus `catalog_dir`). `model_file`: the ONNX
    file measured, where the catalog has no profile of its model: the profile is written to
    `catalog_dir`/profiles/<model>.yaml too."""
    from planner.atomicfile import replace_file
    from planner.yamlio import load_mapping
    profile = None
    if model_file is not None:
        # the profile takes the id the results give the model (a bundle's result names it)
        named = {r.ids["model"] for p in paths for r in read_result(os.fspath(p))
                 if r.ids.get("model")}
        if not given.get("model") and len(named) == 1:
            given = {**given, "model": named.pop()}
        profile = _model_file_profile(catalog, model_file, given, catalog_dir)
        if profile is not None:
            catalog = profile[0]
            given = {**given, "model": profile[1].stem}
    target = Path(catalog_dir) / ADDED_FILE
    have: list[Measurement] = []
    if target.exists():
        data, pos = load_mapping(target)
        for i, row in enumerate(data.get("measurements") or []):
            try:
                have.append(Measurement(**row))
            except (TypeError, ValueError) as e:
                raise pos.error(InputError, f"not a valid measurement: {e}",
                                ("measurements", i)) from None
    seen = {_key(m) for m in have}
    added = []
    for m, path in measurements_from(catalog, paths, given):
        dup = _key(m) in seen
        added.append(Added(m, path, duplicate=dup))
        if not dup:
            seen.add(_key(m))
            have.append(m)
    if any(not a.duplicate for a in added):
        try:
            if profile is not None:
                profile[1].parent.mkdir(parents=True, exist_ok=True)
                replace_file(profile[1], profile[2])
            target.parent.mkdir(parents=True, exist_ok=True)
            replace_file(target, _dump(have))
        except OSError as e:
            raise InputError(f"cannot write the measurements: {e.strerror or e}",
                             file=str(target)) from None
    return added
