"""A spec's ONNX `model_files` as candidate models. onnx is imported only when a spec names
some, so `import planner.solve` stays light."""
from __future__ import annotations

from planner.spec import Spec


def model_file_profiles(spec: Spec, base_dir) -> dict | None:
    """Model files named by the spec's workloads (ONNX; for LLMs a Hugging Face folder or
    config.json, or a GGUF file), profiled into candidate models:
    {workload name: [ModelProfile]}. Paths are relative to the spec's directory."""
    import os
    if not any(w.model_files for w in spec.workloads):
        return None
    from planner.llmfile import is_llm_file, llm_file_as_model
    from planner.onnxfile.profile import profile_as_model
    out = ModelFiles()
    for w in spec.workloads:
        for f in w.model_files or ():
            path = f if os.path.isabs(f) else os.path.join(os.fspath(base_dir), f)
            if is_llm_file(path):
                # a Hugging Face folder / config.json (named by its folder) or a GGUF file
                m = llm_file_as_model(path)
            else:
                mid = os.path.splitext(os.path.basename(f))[0].lower()
                m = profile_as_model(path, mid, task=w.task or "custom")
            out.setdefault(w.name, []).append(m)
            out.paths[m.id] = f
    return out


class ModelFiles(dict):
    """{workload: [ModelProfile]} from a spec's model_files, and `paths`: model id -> the
    file as the spec names it (relative to the spec), for the manifest's model_file."""

    def __init__(self):
        super().__init__()
        self.paths: dict[str, str] = {}

