"""What a rule sees: a document resolved against the catalog, step by step as the
estimator resolves a query, with the estimates every rule reads."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from planner.errors import EdgeplanError

# ---------------------------------------------------------------- the document contexts

def dotted_path(path: tuple, data) -> str:
    """Dotted YAML path with workloads named by their name: stable when items are reordered."""
    out = ""
    cur = data
    for part in path:
        nxt = None
        if isinstance(cur, (list, dict)):
            try:
                nxt = cur[part]
            except (KeyError, IndexError, TypeError):
                nxt = None
        if isinstance(part, int):
            label = None
            if isinstance(nxt, dict):
                label = nxt.get("name") if isinstance(nxt.get("name"), str) else None
                if label is None and isinstance(nxt.get("id"), str):
                    label = nxt["id"]
            out += f"[{label}]" if label else f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
        cur = nxt
    return out


class BaseContext:
    kind = ""

    def __init__(self, file: str, text: str, data: dict, pos, catalog, base_dir: str):
        self.file = file
        self.text = text
        self.data = data
        self.pos = pos
        self.catalog = catalog
        self.base_dir = base_dir
        self._onnx: dict[str, object] = {}

    def path_to(self, rel: str | None) -> str | None:
        if rel is None:
            return None
        return rel if os.path.isabs(rel) else os.path.join(self.base_dir, rel)

    def onnx(self, rel: str):
        """The ops and inputs of an ONNX file (cached), or the error reading it. An LLM file
        (a Hugging Face folder or config.json, a GGUF), which solve plans as well, is read
        for its shape and stands for a decoder's standard export: its nominal ops and a
        dynamic token input, as the catalog's LLM profiles have them."""
        if rel not in self._onnx:
            from planner.llmfile import is_llm_file
            path = self.path_to(rel)
            try:
                if is_llm_file(path):
                    self._onnx[rel] = _llm_file_summary(path)
                else:
                    from planner.onnxfile.peek import read_onnx
                    self._onnx[rel] = read_onnx(path)
            except EdgeplanError as e:
                self._onnx[rel] = e
        return self._onnx[rel]



def _llm_file_summary(path: str):
    """An LLM file's stand-in for an ONNX summary (after reading it, which raises on a bad
    one): the decoder ops of the catalog's LLM profiles and a dynamic token input."""
    from planner.llmfile import llm_file_as_model
    from planner.llmfile.shape import DECODER_OPS
    from planner.onnxfile.peek import InputInfo, OnnxSummary
    llm_file_as_model(path)
    return OnnxSummary(ir_version=0, ops=[("", op) for op in DECODER_OPS],
                       inputs=[InputInfo("input_ids", 7, ("batch", "sequence"))])

@dataclass
class Resolved:
    """One manifest workload resolved against the catalog, step by step as the estimator does;
    the first step that fails records its error (the rule for that step reports it). The
    model is looked up on its own, so device-side rules still run for a `model_file` that is
    not in the catalog."""
    index: int
    workload: object
    entry_index: int | None = None
    entry: object = None
    model: object = None
    device: object = None
    mode: object = None
    unit: object = None
    runtime: str | None = None
    option: object = None
    query: object = None
    estimate: object = None
    model_error: EdgeplanError | None = None   # the model id is not in the catalog
    error: EdgeplanError | None = None
    error_step: str | None = None    # device | mode | unit | precision | runtime | model | option | estimate

    @property
    def ok(self) -> bool:
        return self.estimate is not None


class ManifestContext(BaseContext):
    kind = "manifest"

    def __init__(self, *a, manifest, **kw):
        super().__init__(*a, **kw)
        self.manifest = manifest

    # ------------------------------------------------------------ plain accessors

    def raw_workload(self, i: int) -> dict:
        try:
            w = self.data["workloads"][i]
            return w if isinstance(w, dict) else {}
        except (KeyError, IndexError, TypeError):
            return {}

    def given(self, i: int, key: str) -> bool:
        """The workload states `key` itself (not a schema default)."""
        return key in self.raw_workload(i)

    def entry_of(self, device_id: str):
        for j, e in enumerate(self.manifest.devices):
            if e.id == device_id:
                return j, e
        return None, None

    def workloads_on(self, entry_index: int) -> list[int]:
        e = self.manifest.devices[entry_index]
        return [i for i, w in enumerate(self.manifest.workloads) if w.device == e.id]

    @property
    def compute_cap(self) -> float:
        """Share of a unit's time a rate may use (1 - compute headroom, as `solve` uses)."""
        pct = getattr(self.manifest.budgets, "compute_headroom_pct", None) or 0.0
        return 1.0 - pct / 100.0

    @property
    def memory_cap_share(self) -> float:
        return 1.0 - self.manifest.budgets.memory_headroom_pct / 100.0

    # ------------------------------------------------------------ the estimator

    @cached_property
    def resolved(self) -> list[Resolved]:
        return [self._resolve(i, w) for i, w in enumerate(self.manifest.workloads)]

    def _resolve(self, i: int, w) -> Resolved:
        from planner.errors import EstimateError, UnknownIdError, did_you_mean
        from planner.estimate.point import (
            Query,
            estimate,
            resolve_runtime,
            resolve_unit,
            workload_prompt,
        )
        r = Resolved(i, w)
        r.entry_index, r.entry = self.entry_of(w.device)
        try:
            r.model = self.catalog.model(w.model)
        except UnknownIdError as e:
            r.model_error = e

        def fail(step, err):
            r.error, r.error_step = err, step
            return r
        # the device chain, as the estimator resolves it: device, power mode, unit, runtime
        try:
            r.device = self.catalog.device(w.device)
        except UnknownIdError as e:
            return fail("device", e)
        mode_id = r.entry.power_mode if r.entry is not None else None
        try:
            r.mode = r.device.mode(mode_id)
        except KeyError:
            modes = [m.id for m in r.device.power.modes]
            return fail("mode", UnknownIdError(
                f"device {r.device.id!r} has no power mode {mode_id!r}"
                f"{did_you_mean(mode_id, modes)} (modes: {', '.join(modes)})",
                field="power_mode"))
        try:
            # no `unit:` means the device's default unit (its accelerator), never a fallback
            # to whichever unit runs the precision (an FP32 model on a Coral is an error)
            r.unit = resolve_unit(r.device, w.unit or r.device.default_unit.id, w.precision)
        except UnknownIdError as e:
            return fail("unit", e)
        except EstimateError as e:
            return fail("precision", e)
        try:
            r.runtime = resolve_runtime(r.device, r.unit, w.runtime, self.catalog, r.model)
        except EstimateError as e:
            return fail("runtime", e)
        if r.model is None:
            return fail("model", r.model_error)
        technique = w.technique if self.given(i, "technique") else None
        try:
            r.option = r.model.option(w.precision, technique)
        except KeyError:
            have = ", ".join(f"{o.precision}/{o.technique}" for o in r.model.options)
            return fail("option", EstimateError(
                f"{r.model.id} has no {w.precision}{'/' + technique if technique else ''} "
                f"option (it has {have})", field="technique" if technique else "precision"))
        # no runtime given: estimate picks it as solve does (measured runtimes first, fastest)
        r.query = Query(model=r.model.id, precision=w.precision, device=r.device.id,
                        technique=r.option.technique, unit=r.unit.id, runtime=w.runtime,
                        batch=w.batch, context=w.context_tokens, power_mode=r.mode.id,
                        kv_cache=w.kv_cache or "fp16",
                        prompt_tokens=workload_prompt(w, r.model),
                        weight_format=w.weight_format)
        try:
            r.estimate = estimate(self.catalog, r.query)
        except EdgeplanError as e:
            return fail("estimate", e)
        r.runtime = r.estimate.runtime
        return r

    def variant(self, r: Resolved, **changes):
        """The estimate for the same workload with some query fields changed, or None when
        that variant cannot run (used to suggest fixes)."""
        from dataclasses import replace

        from planner.estimate.point import estimate
        if r.query is None:
            return None
        q = replace(r.query, **changes)
        try:
            return estimate(self.catalog, q)
        except EdgeplanError:
            return None

    def device_power_w(self, entry_index: int) -> float | None:
        """Power of one device entry: its power mode's watts x count (as `solve` counts)."""
        e = self.manifest.devices[entry_index]
        for i in self.workloads_on(entry_index):
            r = self.resolved[i]
            if r.ok:
                return r.estimate.power_w.value * e.count
        dev = self.catalog.devices.get(e.id)
        if dev is None:
            return None
        try:
            return dev.mode(e.power_mode).power_w * e.count
        except KeyError:
            return None


class SpecContext(BaseContext):
    kind = "spec"

    def __init__(self, *a, spec, feasibility=None, **kw):
        super().__init__(*a, **kw)
        self.spec = spec
        # (spec, catalog, base_dir) -> None when a plan exists, else solve's conflicts; given
        # by the caller (the CLI passes solve's), since lint never imports the solver (EP105)
        self.feasibility = feasibility

    def allowed_devices(self) -> list:
        s = self.spec
        kinds = s.budgets.price_kinds
        return [d for _, d in sorted(self.catalog.devices.items())
                if s.devices.admits(d.id) and s.families.admits(d.family)
                and (kinds is None or d.price_kind in kinds)]

    def candidate_models(self, w) -> list:
        """The catalog models a workload may use (model_files are not in the catalog)."""
        models = self.catalog.models
        if w.models:
            return [models[m] for m in w.models if m in models
                    and (w.task is None or models[m].task == w.task)]
        if w.task:
            return [m for _, m in sorted(models.items()) if m.task == w.task]
        return []

    def candidate_options(self, w, model) -> list:
        return [o for o in model.options
                if (w.precisions is None or o.precision in w.precisions)
                and (w.techniques is None or o.technique in w.techniques)]
