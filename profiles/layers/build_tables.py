"""Write the per-layer tables under profiles/layers/ from ONNX graphs of catalog models.

Two steps, run once by a maintainer, never at run time:

    # 1. the architectures, without weights, as ONNX (needs torch, torchvision, timm,
    #    ultralytics, transformers: a separate environment; downloads nothing)
    /path/to/layers-venv/bin/python profiles/layers/export_onnx.py /tmp/layers-onnx
    # 2. the tables, with edgeplan's own reader (the one `edgeplan profile --layers` runs)
    python profiles/layers/build_tables.py /tmp/layers-onnx

Step 2 reads `versions.json` (which step 1 writes) for the libraries and constructor calls
behind each graph and records them in the table's header, with the graph's totals. A table
whose MACs or parameters differ from the catalog profile's by more than 2 % is not written
(it would be another network); the script says which and by how much.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from planner.catalog.layers import LAYERS_DIR, LayerTable, write_table
from planner.catalog.loader import load_catalog
from planner.estimate.layers import MATCH_TOLERANCE
from planner.onnxfile.layers import layers_of
from planner.onnxfile.profile import profile_onnx


def main(onnx_dir: str) -> int:
    src = Path(onnx_dir)
    versions = json.loads((src / "versions.json").read_text())
    libs = ", ".join(f"{k} {v}" for k, v in sorted(versions["versions"].items()))
    catalog = load_catalog()
    failed = written = 0
    for path in sorted(src.glob("*.onnx")):
        mid = path.stem
        model = catalog.models.get(mid)
        if model is None:
            print(f"{mid}: not a catalog model, skipped")
            continue
        prof = profile_onnx(path)
        layers = tuple(layers_of(prof))
        made = versions["models"][mid]
        shape = "x".join(map(str, made["input_shape"]))
        table = LayerTable(mid, layers, (
            f"{mid}: {len(layers)} layers of {made['constructor']} at input {shape}",
            (f"exported by profiles/layers/export_onnx.py (ONNX opset {versions['opset']}) "
             f"with {libs}; tabled by profiles/layers/build_tables.py"),
            f"graph totals: {prof.params} parameters, {prof.macs} MACs"))
        dm = table.macs / (model.size.macs_g * 1e9) - 1
        dp = table.weights / (model.size.params_m * 1e6) - 1
        if abs(dm) > MATCH_TOLERANCE or abs(dp) > MATCH_TOLERANCE:
            print(f"{mid}: MACs {dm:+.1%}, parameters {dp:+.1%} against the profile: "
                  "not written")
            (LAYERS_DIR / f"{mid}.csv").unlink(missing_ok=True)   # no stale table stays
            failed += 1
            continue
        (LAYERS_DIR / f"{mid}.csv").write_text(write_table(table), encoding="utf-8")
        written += 1
        print(f"{mid}: {len(layers)} layers, MACs {dm:+.2%}, parameters {dp:+.2%}")
    print(f"{written} tables written; {failed} models left without one")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
