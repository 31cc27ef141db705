"""Loading the catalog: the built-in devices, profiles and measurements, plus the user's own
directories (`--catalog DIR`, or EDGEPLAN_CATALOG as a path list). A user entry whose id is a
built-in id replaces it, and a notice says so (the library never prints: notices are data)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from planner.catalog.schema import (
    CatalogFile,
    Device,
    MathPath,
    Measurement,
    ModelProfile,
    OpSupport,
    Runtime,
)
from planner.errors import CatalogError, UnknownIdError, did_you_mean
from planner.yamlio import Positions, load_mapping, validation_error

ENV_VAR = "EDGEPLAN_CATALOG"


_ROOT = Path(__file__).resolve().parent.parent   # planner/


def builtin_dirs() -> list[Path]:
    """catalog/ and profiles/: in a wheel under planner/_data, in a checkout at the root."""
    out = []
    for name in ("catalog", "profiles"):
        packaged = _ROOT / "_data" / name
        out.append(packaged if packaged.is_dir() else _ROOT.parent / name)
    return out


@dataclass
class Catalog:
    devices: dict[str, Device] = field(default_factory=dict)
    models: dict[str, ModelProfile] = field(default_factory=dict)
    measurements: list[Measurement] = field(default_factory=list)
    op_support: dict[str, OpSupport] = field(default_factory=dict)
    runtimes: dict[str, Runtime] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)   # "device:ID", "measurement:I" -> file
    notices: list[str] = field(default_factory=list)

    def device(self, device_id: str) -> Device:
        try:
            return self.devices[device_id]
        except KeyError:
            raise UnknownIdError(f"unknown device {device_id!r}"
                                 f"{did_you_mean(device_id, self.devices)}", field="device") from None

    def task_metric(self, task: str | None) -> str:
        """The metric an accuracy floor on a workload of `task` is read in: the one most of
        the catalog's models of that task report (ties: alphabetical; '' for a task with no
        catalog model). The one rule solve and lint (EP204) share: a model scored in another
        metric (OpenImages mAP among COCO detectors) never meets a floor, so solve never
        emits a plan that lint rejects, whatever candidates a spec lists."""
        counts: dict[str, int] = {}
        for m in self.models.values():
            if m.task == task:
                counts[m.metric] = counts.get(m.metric, 0) + 1
        return min(counts, key=lambda k: (-counts[k], k)) if counts else ""

    def model(self, model_id: str) -> ModelProfile:
        try:
            return self.models[model_id]
        except KeyError:
            raise UnknownIdError(f"unknown model {model_id!r}"
                                 f"{did_you_mean(model_id, self.models)}", field="model") from None

    def runs(self, runtime: str, model: ModelProfile, device: str | None = None) -> bool:
        """Does the runtime run this kind of model (on this device's software stack, where one
        is given)? (Unlisted runtimes run anything.)"""
        if model.runtimes is not None and runtime not in model.runtimes:
            return False        # a new architecture only some runtimes implement
        rt = self.runtimes.get(runtime)
        return rt is None or rt.runs_on(model, device)

    def vendor_runtime(self, family: str, unit_runtimes) -> str | None:
        """The vendor's own runtime among a unit's runtimes on this device family (TensorRT
        on a Jetson GPU, QNN on a Qualcomm NPU, ...), or None (runtimes.yaml vendor_for)."""
        for r in unit_runtimes:
            rt = self.runtimes.get(r)
            if rt is not None and family in rt.vendor_for:
                return r
        return None

    def calibrated_as(self, dev, unit, mode_id: str) -> tuple:
        """(device, unit, power mode id) whose calibration and measurements an estimate on
        this unit takes. An accelerator listed on its host board (`host:`) runs its CPU unit
        on that board's CPU, the same silicon (the catalog lists it "as for" the host), so
        that unit is calibrated, and its measurements found, as the host's CPU in its top
        mode: a Coral on a Pi 5 is no faster on its CPU than the Pi 5 itself. Every other
        unit is itself."""
        host = self.devices.get(dev.host) if dev.host else None
        cpu = host.cpu_unit if host else None
        if cpu is None or unit.kind != "cpu":
            return dev, unit, mode_id
        return host, cpu, host.max_mode.id

    def math_path(self, runtime: str) -> MathPath:
        """How the runtime's math reaches a unit's peak (unlisted runtimes: FP32 as FP32, with
        the unit's matrix engines)."""
        rt = self.runtimes.get(runtime)
        return rt.math if rt is not None else MathPath()

    def families(self) -> list[str]:
        return sorted({d.family for d in self.devices.values()})


def _yaml_files(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _parse_file(path: Path) -> tuple[CatalogFile, Positions]:
    data, pos = load_mapping(path, cached=True)
    try:
        return CatalogFile.model_validate(data), pos
    except ValidationError as e:
        raise validation_error(pos, e, CatalogError, model=CatalogFile, data=data) from None


def load_catalog(extra_dirs=(), *, builtin: bool = True, use_env: bool = True) -> Catalog:
    dirs: list[tuple[Path, bool]] = [(d, True) for d in builtin_dirs()] if builtin else []
    user = list(extra_dirs)
    if use_env and os.environ.get(ENV_VAR):
        user = [p for p in os.environ[ENV_VAR].split(os.pathsep) if p] + user
    seen = {p.resolve() for p, _ in dirs}
    for d in user:
        p = Path(d)
        if not p.is_dir():
            raise CatalogError("catalog directory does not exist", file=str(d))
        if p.resolve() in seen:
            continue   # a built-in directory named again (e.g. `catalog validate catalog/`)
        seen.add(p.resolve())
        dirs.append((p, False))

    cat = Catalog()
    where: dict[str, tuple[Positions, tuple]] = {}   # key -> (positions, path) for later checks
    for d, is_builtin in dirs:
        for f in _yaml_files(d):
            cf, pos = _parse_file(f)
            for section, items, store in (("devices", cf.devices, cat.devices),
                                          ("models", cf.models, cat.models),
                                          ("op_support", cf.op_support, cat.op_support),
                                          ("runtimes", cf.runtimes, cat.runtimes)):
                kind = section.rstrip("s") if section != "op_support" else "op_support"
                seen_here: set[str] = set()
                for i, item in enumerate(items):
                    key = f"{kind}:{item.id}"
                    if item.id in seen_here or (item.id in store and cat.origin.get(key) and
                                                not is_builtin and
                                                cat.origin[key].startswith(str(d))):
                        raise pos.error(CatalogError, f"duplicate {kind} id {item.id!r}",
                                        (section, i, "id"))
                    if item.id in store:
                        if is_builtin:
                            raise pos.error(CatalogError, f"{kind} id {item.id!r} is also defined "
                                            f"in {cat.origin[key]}", (section, i, "id"))
                        cat.notices.append(f"{f}: {kind} {item.id!r} overrides the built-in "
                                           f"entry from {cat.origin[key]}")
                    if is_builtin and section == "devices" and item.as_of is None:
                        raise pos.error(CatalogError, f"built-in device {item.id!r} has no "
                                        f"as_of (the date its facts were last checked, "
                                        f"YYYY-MM-DD)", (section, i, "id"))
                    seen_here.add(item.id)
                    store[item.id] = item
                    cat.origin[key] = str(f)
                    where[key] = (pos, (section, i))
            for i, m in enumerate(cf.measurements):
                cat.measurements.append(m)
                cat.origin[f"measurement:{len(cat.measurements) - 1}"] = str(f)
                where[f"measurement:{len(cat.measurements) - 1}"] = (pos, ("measurements", i))
    _check_references(cat, where)
    return cat


def _check_references(cat: Catalog, where) -> None:
    for key, (pos, path) in where.items():
        if key.startswith("model:"):
            model = cat.models[key.split(":", 1)[1]]
            # the runtimes it names: its own, and those its options' quantizers name
            named = [(("runtimes", j), r) for j, r in enumerate(model.runtimes or ())]
            named += [(("options", j, "quantizer", "runtimes", k), r)
                      for j, o in enumerate(model.options) if o.quantizer
                      for k, r in enumerate(o.quantizer.runtimes)]
            for at, r in named:
                if r not in cat.runtimes:
                    raise pos.error(CatalogError, f"unknown runtime {r!r}"
                                    f"{did_you_mean(r, cat.runtimes)}", path + at)
            eff = model.efficiency_family
            if eff is not None:
                # the family must be one the calibration fits: another model's own, and not
                # one whose models take a third family's factors themselves
                fitted = {m.calibration_family for m in cat.models.values()
                          if m.family != model.family}
                if eff not in fitted:
                    via = next((m.calibration_family for m in cat.models.values()
                                if m.family == eff), None)
                    raise pos.error(CatalogError, (
                        f"the {eff} models take {via}'s efficiency factors themselves: name {via!r}"
                        if via is not None else f"{eff!r} is no other model's family"
                        f"{did_you_mean(eff, fitted)}"), path + ("efficiency_family",))
        if key.startswith("device:"):
            dev = cat.devices[key.split(":", 1)[1]]
            if dev.host is not None and dev.host not in cat.devices:
                raise pos.error(CatalogError, f"unknown host device {dev.host!r}"
                                f"{did_you_mean(dev.host, cat.devices)}", path + ("host",))
            share = dev.accelerator_share_problem()
            if share is not None:
                raise pos.error(CatalogError, share[1], path + share[0])
            for j, u in enumerate(dev.units):
                if u.op_support != "full" and u.op_support not in cat.op_support:
                    raise pos.error(CatalogError, f"unknown op_support class {u.op_support!r}"
                                    f"{did_you_mean(u.op_support, cat.op_support)}",
                                    path + ("units", j, "op_support"))
        elif key.startswith("measurement:"):
            m = cat.measurements[int(key.split(":", 1)[1])]
            if m.device not in cat.devices:
                raise pos.error(CatalogError, f"unknown device {m.device!r}"
                                f"{did_you_mean(m.device, cat.devices)}", path + ("device",))
            if m.model not in cat.models:
                raise pos.error(CatalogError, f"unknown model {m.model!r}"
                                f"{did_you_mean(m.model, cat.models)}", path + ("model",))
            dev = cat.devices[m.device]
            try:
                unit = dev.unit(m.unit)
            except KeyError:
                raise pos.error(CatalogError, f"device {m.device!r} has no unit {m.unit!r}",
                                path + ("unit",)) from None
            if not cat.runs(m.runtime, cat.models[m.model]):
                raise pos.error(CatalogError, f"runtime {m.runtime!r} does not run "
                                f"{m.model!r} (catalog/runtimes.yaml)", path + ("runtime",))
            if m.precision not in unit.precisions:
                raise pos.error(CatalogError, f"unit {unit.id!r} of {m.device!r} does not run "
                                f"{m.precision}", path + ("precision",))
            if m.power_mode is not None:
                try:
                    dev.mode(m.power_mode)
                except KeyError:
                    raise pos.error(CatalogError, f"device {m.device!r} has no power mode "
                                    f"{m.power_mode!r}", path + ("power_mode",)) from None


def catalog_with_models(catalog: Catalog, models) -> Catalog:
    """A copy of the catalog with extra model profiles (ONNX files a spec names). They add no
    measured point, so the copy shares the calibration of the catalog it extends; a catalog
    that already holds these very models is returned as it is."""
    import dataclasses
    if all(catalog.models.get(m.id) is m for m in models):
        return catalog
    extra = {m.id: m for m in models}
    out = dataclasses.replace(catalog, models={**catalog.models, **extra},
                              origin={**catalog.origin,
                                      **{f"model:{i}": "spec model_files" for i in extra}})
    out._calibration_base = getattr(catalog, "_calibration_base", None) or catalog
    return out
