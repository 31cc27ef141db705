"""Export ONNX graphs of catalog models, built offline from their public architecture constructors.

Every model is built WITHOUT pretrained weights (weights are random; only the graph and tensor shapes
matter) from the constructors of torchvision, timm, ultralytics (the yaml bundled in the package, never a
.pt) and transformers (a config written out below).  Nothing is downloaded: hub access is switched off
and no constructor here fetches weights.  Each model is put in eval mode and exported at batch 1 with
static shapes, opset 17, using torch.onnx.export with the TorchScript-based exporter (dynamo=False).

Deployment-time rewrites are applied before export, as the libraries' own exporters do:
  * ultralytics: model.fuse() (conv+bn folding, unused head branch removed), heads switched to export
    mode (format "onnx", static), C2f split forward.  The head runs as the model defaults to, which is
    also what ultralytics' own default ONNX export (nms=None) gives: raw (1, 4+nc, 8400) predictions for
    external NMS.  For yolo26 that is the one-to-many branch; its NMS-free one-to-one branch has the same
    convolutions and is dropped by fuse(), so the graph has no TopK post-processing.
  * timm: built in timm's exportable layer config; TF 'SAME' padding (tf_efficientnet_*) becomes a static
    Pad computed for the export input size.  fastvit_ma36: timm.utils.reparameterize_model
    (MobileOne/RepMixer branches folded).
  * deeplabv3-resnet50: only the 'out' output is exported.
  * transformers: eager attention; inputs input_ids (int64) and attention_mask (int64), outputs are the
    model's tuple outputs (last_hidden_state, plus pooler_output where the model has a pooler).
    Vision models (depth-anything-v2-small) take the image as pixel_values and return their
    prediction (predicted_depth); the backbone config is built from its model_type.

Parameters and batch-norm statistics whose values are all equal (fresh norm scales, shifts and
statistics, zeroed biases) are refilled with seeded random values near that value before export, so the
exporter's initializer deduplication does not merge them into shared initializers behind Identity nodes
that a trained model would not have.

Each model gets one dry-run forward before export (as ultralytics' exporter does), which fixes lazily
computed values (detection anchors, timm's SAME pads) as constants.  aten::pad with constant pads is
exported as a Pad with a constant pads tensor (the legacy symbolic builds it from ops it cannot fold).

Writes OUT_DIR/<id>.onnx for each id, OUT_DIR/versions.json (library versions and, per id, the
constructor call and parameter counts), and OUT_DIR/SUMMARY.txt (id, parameter count of the torch module
as built, of the module as exported after fuse/reparameterize, and ONNX file size).  Every file is
reloaded with onnx.load and passed through onnx.checker.check_model; the exit status is 1 if any id
failed.  Output is byte-for-byte reproducible for the same library versions.

Run with the separate layers venv (torch 2.14.1, torchvision 0.29.1, timm, ultralytics, transformers,
onnx, onnxscript), from the repository root:

    /work/layers-venv/bin/python profiles/layers/export_onnx.py OUT_DIR [ids...]

With no ids, all ids below are exported (sorted).

Skipped catalog ids: none at present.  yolo26n..yolo26x need an ultralytics release that bundles
cfg/models/26/yolo26.yaml; with an older one they fail to build and are reported as failed.
"""

import json
import os
import platform
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import torch

IMG = lambda s: (1, 3, s, s)
BERT_LARGE = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096}
# Depth Anything V2 Small (DepthAnything/Depth-Anything-V2 README: 'vits': features 64,
# out_channels [48, 96, 192, 384]; depth_anything_v2/dinov2.py vit_small: embed 384, depth 12,
# heads 6, patch 14), as transformers' DepthAnythingConfig over a DINOv2-S backbone
DEPTH_ANYTHING_V2_SMALL = {
    "backbone_config": {"model_type": "dinov2", "hidden_size": 384, "num_hidden_layers": 12,
                        "num_attention_heads": 6, "patch_size": 14, "image_size": 518,
                        "out_indices": [3, 6, 9, 12], "reshape_hidden_states": False,
                        "apply_layernorm": True},
    "fusion_hidden_size": 64, "neck_hidden_sizes": [48, 96, 192, 384],
    "reassemble_hidden_size": 384, "head_hidden_size": 32, "depth_estimation_type": "relative",
}

# id -> (library, constructor, constructor kwargs, input shape)
MODELS = {
    # torchvision (weights=None is always passed)
    "mobilenet-v2": ("torchvision", "mobilenet_v2", {}, IMG(224)),
    "mobilenet-v3-small": ("torchvision", "mobilenet_v3_small", {}, IMG(224)),
    "mobilenet-v3-large": ("torchvision", "mobilenet_v3_large", {}, IMG(224)),
    "resnet-18": ("torchvision", "resnet18", {}, IMG(224)),
    "resnet-50": ("torchvision", "resnet50", {}, IMG(224)),
    "resnet-50-299": ("torchvision", "resnet50", {}, IMG(299)),
    "vgg16": ("torchvision", "vgg16", {}, IMG(224)),
    "vit-base-16": ("torchvision", "vit_b_16", {}, IMG(224)),
    "densenet-121": ("torchvision", "densenet121", {}, IMG(224)),
    "googlenet": ("torchvision", "googlenet", {"aux_logits": False, "init_weights": False}, IMG(224)),
    "inception-v3": ("torchvision", "inception_v3", {"aux_logits": False, "init_weights": False}, IMG(299)),
    "squeezenet-1.1": ("torchvision", "squeezenet1_1", {}, IMG(224)),
    "shufflenet-v2-x1.0": ("torchvision", "shufflenet_v2_x1_0", {}, IMG(224)),
    "mnasnet-1.0": ("torchvision", "mnasnet1_0", {}, IMG(224)),
    "efficientnet-b0": ("torchvision", "efficientnet_b0", {}, IMG(224)),
    "convnext-tiny": ("torchvision", "convnext_tiny", {}, IMG(224)),
    "regnet-y-400mf": ("torchvision", "regnet_y_400mf", {}, IMG(224)),
    "deeplabv3-resnet50": ("torchvision", "segmentation.deeplabv3_resnet50",
                           {"weights_backbone": None, "aux_loss": False}, IMG(520)),
    # timm (pretrained=False is always passed)
    "mobilenet-v1": ("timm", "mobilenetv1_100", {"num_classes": 1001}, IMG(224)),
    "efficientnet-lite0": ("timm", "tf_efficientnet_lite0", {}, IMG(224)),
    "efficientnet-lite1": ("timm", "tf_efficientnet_lite1", {}, IMG(240)),
    "efficientnet-lite2": ("timm", "tf_efficientnet_lite2", {}, IMG(260)),
    "efficientnet-lite3": ("timm", "tf_efficientnet_lite3", {}, IMG(280)),
    "efficientnet-lite4": ("timm", "tf_efficientnet_lite4", {}, IMG(300)),
    "efficientnet-edgetpu-s": ("timm", "tf_efficientnet_es", {}, IMG(224)),
    "efficientnet-edgetpu-m": ("timm", "tf_efficientnet_em", {}, IMG(240)),
    "inception-v4": ("timm", "inception_v4", {"num_classes": 1001}, IMG(299)),
    "fastvit-ma36": ("timm", "fastvit_ma36", {}, IMG(256)),
    "mobileclip-s0-image": ("timm", "fastvit_mci0", {}, IMG(256)),
    "mobileclip-s1-image": ("timm", "fastvit_mci1", {}, IMG(256)),
    "mobileclip-s2-image": ("timm", "fastvit_mci2", {}, IMG(256)),
    "mobilenet-v4-conv-small": ("timm", "mobilenetv4_conv_small", {}, IMG(224)),
    "mobilenet-v4-conv-medium": ("timm", "mobilenetv4_conv_medium", {}, IMG(256)),
    "mobilenet-v4-conv-large": ("timm", "mobilenetv4_conv_large", {}, IMG(384)),
    "mobilenet-v4-hybrid-medium": ("timm", "mobilenetv4_hybrid_medium", {}, IMG(224)),
    # ultralytics (bundled yaml)
    **{i: ("ultralytics", f"{i}.yaml", {}, IMG(640)) for i in (
        "yolov8n", "yolov8s", "yolov8m", "yolov8l", "yolov8x",
        "yolo11n", "yolo11s", "yolo11m", "yolo11l", "yolo11x",
        "yolo26n", "yolo26s", "yolo26m", "yolo26l", "yolo26x", "yolov8n-pose")},
    # transformers: "Model:Config" with the config kwargs; shape is (batch, sequence length)
    "bert-base": ("transformers", "BertModel:BertConfig", {}, (1, 128)),
    "bert-large": ("transformers", "BertModel:BertConfig", BERT_LARGE, (1, 384)),
    "distilbert-base": ("transformers", "DistilBertModel:DistilBertConfig", {}, (1, 128)),
    "mobilebert": ("transformers", "MobileBertModel:MobileBertConfig", {}, (1, 384)),
    # transformers vision: "Model:Config" built with a backbone config; the input is an image
    "depth-anything-v2-small": ("transformers-vision",
                                "DepthAnythingForDepthEstimation:DepthAnythingConfig",
                                DEPTH_ANYTHING_V2_SMALL, IMG(224)),
}

SEED = 0
OPSET = 17


def _kw(kwargs):
    return "".join(f", {k}={v!r}" for k, v in kwargs.items())


def call_string(lib, ctor, kwargs):
    if lib == "torchvision":
        return f"torchvision.models.{ctor}(weights=None{_kw(kwargs)})"
    if lib == "timm":
        return f"timm.create_model({ctor!r}, pretrained=False{_kw(kwargs)})"
    if lib == "ultralytics":
        return f"ultralytics.YOLO({ctor!r}).model.fuse()"
    model, config = ctor.split(":")
    if lib == "transformers-vision":
        return f"transformers.{model}(transformers.{config}({_kw(kwargs)[2:]}))"
    args = _kw({**kwargs, "attn_implementation": "eager"})[2:]
    return f"transformers.{model}(transformers.{config}({args}))"


class _Pixels(torch.nn.Module):
    """A transformers vision model as a plain function of the image: its prediction."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(pixel_values=x).predicted_depth


class _Out(torch.nn.Module):
    """Return only the 'out' entry of a segmentation model's output dict."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]


class _Text(torch.nn.Module):
    """Call a transformers encoder with (input_ids, attention_mask) and return its tuple outputs."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)


def _break_ties(m):
    """Add seeded noise to constant-valued float parameters and batch-norm statistics."""
    g = torch.Generator().manual_seed(SEED)
    stats = [b for mod in m.modules() if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)
             for b in (mod.running_mean, mod.running_var) if b is not None]
    with torch.no_grad():
        for p in [*m.parameters(), *stats]:
            if p.is_floating_point() and bool((p == p.flatten()[0]).all()):
                p.add_(0.01 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return m


def _pad(g, x, pad, mode, value):
    """aten::pad -> ONNX Pad with a constant pads tensor when the pads are constant and the fill is 0.

    The legacy exporter's own symbolic builds the pads with Slice(step=-1) ops that it cannot
    constant-fold, which leaves later dims symbolic; every other case falls back to that symbolic.
    """
    from torch.onnx import symbolic_helper as sh
    from torch.onnx import symbolic_opset11

    pads, rank = sh._maybe_get_const(pad, "is"), sh._get_tensor_rank(x)
    fill = 0 if sh._is_none(value) else sh._maybe_get_const(value, "f")
    if sh._parse_arg(mode, "s") != "constant" or sh._is_value(pads) or rank is None or fill != 0:
        return symbolic_opset11.pad(g, x, pad, mode, value)
    pads = list(pads) + [0] * (2 * rank - len(pads))  # torch order: last dim first, (begin, end) pairs
    onnx_pads = pads[0::2][::-1] + pads[1::2][::-1]  # onnx order: all begins, then all ends
    pads_t = g.op("Constant", value_t=torch.tensor(onnx_pads, dtype=torch.int64))
    return g.op("Pad", x, pads_t, mode_s="constant")


def build(lib, ctor, kwargs):
    """Return (module ready for export, parameter count of the module as built)."""
    if lib == "torchvision":
        import torchvision
        fn = torchvision.models
        for part in ctor.split("."):
            fn = getattr(fn, part)
        m = _break_ties(fn(weights=None, **kwargs))
        built = sum(p.numel() for p in m.parameters())
        return (_Out(m) if ctor.startswith("segmentation.") else m).eval(), built
    if lib == "timm":
        import importlib

        import timm
        # timm's ONNX-friendly TF 'SAME' conv: pads fixed (static Pad) from the dry run before export,
        # instead of a Shape-computed Pad that leaves dims symbolic (timm.layers.conv2d_same is shadowed
        # by a function of that name, hence import_module)
        importlib.import_module("timm.layers.conv2d_same")._USE_EXPORT_CONV = True
        with timm.layers.set_layer_config(exportable=True):
            m = _break_ties(timm.create_model(ctor, pretrained=False, **kwargs)).eval()
        built = sum(p.numel() for p in m.parameters())
        return timm.utils.reparameterize_model(m).eval(), built
    if lib == "ultralytics":
        from ultralytics import YOLO
        from ultralytics.nn.modules import C2f, Detect
        m = _break_ties(YOLO(ctor).model)
        built = sum(p.numel() for p in m.parameters())
        m = m.eval().float()
        m = m.fuse(verbose=False) if hasattr(m, "fuse") else m
        for mod in m.modules():  # same switches as ultralytics' own ONNX export (static shapes)
            if isinstance(mod, Detect):
                mod.dynamic, mod.export, mod.format, mod.shape = False, True, "onnx", None
            elif isinstance(mod, C2f):
                mod.forward = mod.forward_split
        return m, built
    import transformers
    model_cls, config_cls = (getattr(transformers, n) for n in ctor.split(":"))
    if lib == "transformers-vision":
        bb = dict(kwargs["backbone_config"])
        backbone = transformers.CONFIG_MAPPING[bb.pop("model_type")](**bb)
        m = _break_ties(model_cls(config_cls(**{**kwargs, "backbone_config": backbone}))).eval()
        return _Pixels(m).eval(), sum(p.numel() for p in m.parameters())
    m = _break_ties(model_cls(config_cls(**kwargs, attn_implementation="eager"))).eval()
    return _Text(m).eval(), sum(p.numel() for p in m.parameters())


def example_inputs(lib, shape):
    g = torch.Generator().manual_seed(SEED)
    if lib == "transformers":
        ids = torch.randint(1000, 2000, shape, generator=g, dtype=torch.int64)
        return (ids, torch.ones(shape, dtype=torch.int64)), ["input_ids", "attention_mask"]
    return (torch.randn(shape, generator=g),), ["input"]


def export(mid, out_dir):
    lib, ctor, kwargs, shape = MODELS[mid]
    torch.manual_seed(SEED)
    model, built = build(lib, ctor, kwargs)
    for p in model.parameters():
        p.requires_grad_(False)
    args, names = example_inputs(lib, shape)
    path = os.path.join(out_dir, f"{mid}.onnx")
    torch.backends.mha.set_fastpath_enabled(False)  # keep nn.MultiheadAttention as exportable ops
    torch.onnx.register_custom_op_symbolic("aten::pad", _pad, OPSET)
    with torch.no_grad():
        model(*args)  # dry run, as ultralytics' exporter does; fixes lazily computed pads and anchors
        torch.onnx.export(model, args, path, opset_version=OPSET, input_names=names, dynamo=False)
    return {
        "library": lib,
        "constructor": call_string(lib, ctor, kwargs),
        "input_shape": list(shape),
        "params": built,
        "params_exported_module": sum(p.numel() for p in model.parameters()),
    }


def versions():
    import importlib.metadata as md
    libs = ["torch", "torchvision", "timm", "ultralytics", "transformers", "onnx", "onnxscript"]
    return {"python": platform.python_version(), **{n: md.version(n) for n in libs}}


def main(argv):
    if not argv:
        sys.exit(__doc__)
    out_dir, ids = argv[0], sorted(argv[1:] or MODELS)
    unknown = [i for i in ids if i not in MODELS]
    if unknown:
        sys.exit(f"unknown ids: {unknown}")
    os.makedirs(out_dir, exist_ok=True)
    import onnx

    record, failed, rows = {}, {}, []
    for mid in ids:
        try:
            record[mid] = export(mid, out_dir)
            path = os.path.join(out_dir, f"{mid}.onnx")
            onnx.checker.check_model(onnx.load(path))
        except Exception as e:  # noqa: BLE001  (report and carry on with the other ids)
            failed[mid] = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"
            record.pop(mid, None)
            print(f"FAILED {mid}: {failed[mid]}", file=sys.stderr, flush=True)
            continue
        r = record[mid]
        rows.append(f"{mid:24s} {r['params']:>12,d} {r['params_exported_module']:>12,d} "
                    f"{os.path.getsize(path):>14,d}")
        print(rows[-1], flush=True)

    with open(os.path.join(out_dir, "versions.json"), "w") as f:
        json.dump({"versions": versions(), "opset": OPSET, "seed": SEED, "models": record,
                   "failed": failed}, f, indent=2, sort_keys=True)
        f.write("\n")
    header = f"{'id':24s} {'params':>12s} {'params_exp':>12s} {'onnx_bytes':>14s}"
    with open(os.path.join(out_dir, "SUMMARY.txt"), "w") as f:
        f.write("\n".join([header, *rows]) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
