"""Train the two example models on scikit-learn's digits data set and export them to ONNX.

    python examples/models/train_digits.py [--out examples/models] [--check]

Writes, next to this script:
  digits_cnn.onnx   convolutional: Conv 32 - Conv 64 - MaxPool - Gemm 128 - Gemm 10
  digits_mlp.onnx   MatMul-based:  MatMul 256 - MatMul 128 - MatMul 10 (with Add biases)
  digits_cnn_cal.npz / digits_mlp_cal.npz    calibration inputs (128 training images)
  digits_cnn_eval.npz / digits_mlp_eval.npz  held-out inputs + `labels` (360 images never
                                             used for training or calibration)

The digits data (1,797 8x8 grey images, 10 classes) ships inside scikit-learn, so this runs
offline. Training is plain numpy (no torch), full-batch deterministic: a fixed seed, a fixed
split and float64 arithmetic, so a rerun on the same machine gives byte-identical files
(different BLAS builds may differ in the last bits). Inputs are pixel values / 16, float32:
the .npz files hold them ready to feed. `--check` regenerates into a temporary directory and
compares bytes with the committed files.
"""
from __future__ import annotations

import argparse
import filecmp
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

SEED = 0
N_EVAL = 360
N_CAL = 128
OPSET = 17
IR_VERSION = 8


# ---------------------------------------------------------------- data

def load_splits():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images / 16.0).astype(np.float64)          # (1797, 8, 8) in [0, 1]
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(SEED).permutation(len(y))
    ev, tr = perm[:N_EVAL], perm[N_EVAL:]
    return x[tr], y[tr], x[ev], y[ev]


# ---------------------------------------------------------------- numpy layers

def im2col(x, k=3, pad=1):
    """(N, C, H, W) -> (N*H*W, C*k*k) for a stride-1 'same' convolution."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k, k, h, w), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + h, j:j + w]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * h * w, c * k * k)


def col2im(cols, shape, k=3, pad=1):
    n, c, h, w = shape
    cols = cols.reshape(n, h, w, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            xp[:, :, i:i + h, j:j + w] += cols[:, :, i, j]
    return xp[:, :, pad:pad + h, pad:pad + w]


def softmax_xent(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
    g = p
    g[np.arange(len(y)), y] -= 1.0
    return loss, g / len(y)


class Adam:
    def __init__(self, params, lr=2e-3):
        self.p, self.lr, self.t = params, lr, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads):
        self.t += 1
        for k, g in grads.items():
            self.m[k] = 0.9 * self.m[k] + 0.1 * g
            self.v[k] = 0.999 * self.v[k] + 0.001 * g * g
            mh = self.m[k] / (1 - 0.9 ** self.t)
            vh = self.v[k] / (1 - 0.999 ** self.t)
            self.p[k] -= self.lr * mh / (np.sqrt(vh) + 1e-8)


def he(rng, shape, fan_in):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


# ---------------------------------------------------------------- the CNN

def cnn_init(rng):
    return {"w1": he(rng, (32, 1, 3, 3), 9), "b1": np.zeros(32),
            "w2": he(rng, (64, 32, 3, 3), 288), "b2": np.zeros(64),
            "w3": he(rng, (128, 1024), 1024), "b3": np.zeros(128),
            "w4": he(rng, (10, 128), 128), "b4": np.zeros(10)}


def cnn_forward(p, x, keep=False):
    n = x.shape[0]
    c1 = im2col(x)                                               # (n*64, 9)
    a1 = np.maximum(c1 @ p["w1"].reshape(32, -1).T + p["b1"], 0)  # (n*64, 32)
    h1 = a1.reshape(n, 8, 8, 32).transpose(0, 3, 1, 2)
    c2 = im2col(h1)                                              # (n*64, 288)
    z2 = c2 @ p["w2"].reshape(64, -1).T + p["b2"]
    a2 = np.maximum(z2, 0).reshape(n, 8, 8, 64).transpose(0, 3, 1, 2)   # (n, 64, 8, 8)
    blocks = a2.reshape(n, 64, 4, 2, 4, 2)
    pooled = blocks.max(axis=(3, 5))                             # (n, 64, 4, 4)
    f = pooled.reshape(n, 1024)
    z3 = f @ p["w3"].T + p["b3"]
    a3 = np.maximum(z3, 0)
    out = a3 @ p["w4"].T + p["b4"]
    if keep:
        return out, (x, c1, a1, h1, c2, z2, a2, blocks, pooled, f, z3, a3)
    return out


def cnn_backward(p, cache, g):
    x, c1, a1, h1, c2, z2, a2, blocks, pooled, f, z3, a3 = cache
    n = x.shape[0]
    gr = {"w4": g.T @ a3, "b4": g.sum(0)}
    ga3 = g @ p["w4"]
    gz3 = ga3 * (z3 > 0)
    gr["w3"], gr["b3"] = gz3.T @ f, gz3.sum(0)
    gp = (gz3 @ p["w3"]).reshape(n, 64, 4, 1, 4, 1)
    mask = blocks == pooled.reshape(n, 64, 4, 1, 4, 1)
    mask = mask / mask.sum(axis=(3, 5), keepdims=True)
    ga2 = (mask * gp).reshape(n, 64, 8, 8)
    gz2 = (ga2 * (a2 > 0)).transpose(0, 2, 3, 1).reshape(n * 64, 64)
    gr["w2"] = (gz2.T @ c2).reshape(64, 32, 3, 3)
    gr["b2"] = gz2.sum(0)
    gh1 = col2im(gz2 @ p["w2"].reshape(64, -1), h1.shape)
    gz1 = gh1.transpose(0, 2, 3, 1).reshape(n * 64, 32) * (a1 > 0)
    gr["w1"] = (gz1.T @ c1).reshape(32, 1, 3, 3)
    gr["b1"] = gz1.sum(0)
    return gr


# ---------------------------------------------------------------- the MLP

def mlp_init(rng):
    return {"w1": he(rng, (64, 256), 64), "b1": np.zeros(256),
            "w2": he(rng, (256, 128), 256), "b2": np.zeros(128),
            "w3": he(rng, (128, 10), 128), "b3": np.zeros(10)}


def mlp_forward(p, x, keep=False):
    z1 = x @ p["w1"] + p["b1"]
    a1 = np.maximum(z1, 0)
    z2 = a1 @ p["w2"] + p["b2"]
    a2 = np.maximum(z2, 0)
    out = a2 @ p["w3"] + p["b3"]
    return (out, (x, z1, a1, z2, a2)) if keep else out


def mlp_backward(p, cache, g):
    x, z1, a1, z2, a2 = cache
    gr = {"w3": a2.T @ g, "b3": g.sum(0)}
    gz2 = (g @ p["w3"].T) * (z2 > 0)
    gr["w2"], gr["b2"] = a1.T @ gz2, gz2.sum(0)
    gz1 = (gz2 @ p["w2"].T) * (z1 > 0)
    gr["w1"], gr["b1"] = x.T @ gz1, gz1.sum(0)
    return gr


def train(init, forward, backward, x, y, *, epochs, batch=64, lr=2e-3, seed=SEED):
    rng = np.random.default_rng(seed)
    p = init(rng)
    opt = Adam(p, lr)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for s in range(0, len(y), batch):
            idx = order[s:s + batch]
            out, cache = forward(p, x[idx], keep=True)
            _, g = softmax_xent(out, y[idx])
            opt.step(backward(p, cache, g))
    return p


# ---------------------------------------------------------------- ONNX export

def _model(nodes, inits, inp, out, name, doc):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(inp[0], TensorProto.FLOAT, inp[1])],
        [helper.make_tensor_value_info(out[0], TensorProto.FLOAT, out[1])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    m = helper.make_model(graph, producer_name="edgeplan-examples", producer_version="1",
                          opset_imports=[helper.make_opsetid("", OPSET)], doc_string=doc)
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m, full_check=True)
    return m


def export_cnn(p):
    from onnx import helper
    n = helper.make_node
    nodes = [n("Conv", ["image", "conv1.weight", "conv1.bias"], ["c1"], "conv1",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             n("Relu", ["c1"], ["r1"], "relu1"),
             n("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], "conv2",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             n("Relu", ["c2"], ["r2"], "relu2"),
             n("MaxPool", ["r2"], ["p2"], "pool2", kernel_shape=[2, 2], strides=[2, 2]),
             n("Flatten", ["p2"], ["f"], "flatten", axis=1),
             n("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g1"], "fc1", transB=1),
             n("Relu", ["g1"], ["r3"], "relu3"),
             n("Gemm", ["r3", "fc2.weight", "fc2.bias"], ["logits"], "fc2", transB=1)]
    inits = {"conv1.weight": p["w1"], "conv1.bias": p["b1"], "conv2.weight": p["w2"],
             "conv2.bias": p["b2"], "fc1.weight": p["w3"], "fc1.bias": p["b3"],
             "fc2.weight": p["w4"], "fc2.bias": p["b4"]}
    return _model(nodes, inits, ("image", ["N", 1, 8, 8]), ("logits", ["N", 10]),
                  "digits_cnn", "Digits CNN (8x8 grey, pixels/16) trained by "
                  "examples/models/train_digits.py; outputs logits for classes 0-9.")


def export_mlp(p):
    from onnx import helper
    n = helper.make_node
    nodes = [n("MatMul", ["pixels", "fc1.weight"], ["m1"], "fc1_matmul"),
             n("Add", ["m1", "fc1.bias"], ["z1"], "fc1_add"),
             n("Relu", ["z1"], ["a1"], "relu1"),
             n("MatMul", ["a1", "fc2.weight"], ["m2"], "fc2_matmul"),
             n("Add", ["m2", "fc2.bias"], ["z2"], "fc2_add"),
             n("Relu", ["z2"], ["a2"], "relu2"),
             n("MatMul", ["a2", "fc3.weight"], ["m3"], "fc3_matmul"),
             n("Add", ["m3", "fc3.bias"], ["logits"], "fc3_add")]
    inits = {"fc1.weight": p["w1"], "fc1.bias": p["b1"], "fc2.weight": p["w2"],
             "fc2.bias": p["b2"], "fc3.weight": p["w3"], "fc3.bias": p["b3"]}
    return _model(nodes, inits, ("pixels", ["N", 64]), ("logits", ["N", 10]),
                  "digits_mlp", "Digits MLP (64 pixels/16) trained by "
                  "examples/models/train_digits.py; outputs logits for classes 0-9.")


def _save_npz(path: Path, **arrays):
    # np.savez writes zip entries with a fixed date, so equal arrays give equal bytes
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    path.write_bytes(buf.getvalue())


def generate(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    xtr, ytr, xev, yev = load_splits()
    xcal = xtr[:N_CAL]
    results = {}
    cnn = train(cnn_init, cnn_forward, cnn_backward, xtr[:, None], ytr, epochs=12)
    mlp = train(mlp_init, mlp_forward, mlp_backward, xtr.reshape(-1, 64), ytr, epochs=40)
    for name, params, fwd, exp, shape, key in (
            ("digits_cnn", cnn, cnn_forward, export_cnn, (-1, 1, 8, 8), "image"),
            ("digits_mlp", mlp, mlp_forward, export_mlp, (-1, 64), "pixels")):
        acc = float((fwd(params, xev.reshape(shape)).argmax(1) == yev).mean() * 100)
        results[name] = acc
        (out / f"{name}.onnx").write_bytes(exp(params).SerializeToString())
        _save_npz(out / f"{name}_cal.npz", **{key: xcal.reshape(shape).astype(np.float32)})
        _save_npz(out / f"{name}_eval.npz", **{key: xev.reshape(shape).astype(np.float32),
                                               "labels": yev})
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = Path(__file__).resolve().parent
    ap.add_argument("--out", type=Path, default=here)
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temporary directory and compare with --out")
    a = ap.parse_args(argv)
    if a.check:
        with tempfile.TemporaryDirectory() as tmp:
            acc = generate(Path(tmp))
            names = sorted(p.name for p in Path(tmp).iterdir())
            _, mismatch, errors = filecmp.cmpfiles(a.out, tmp, names, shallow=False)
            for n in mismatch + errors:
                print(f"differs: {n}", file=sys.stderr)
            print(f"held-out accuracy (numpy): {acc}")
            return 1 if mismatch or errors else 0
    acc = generate(a.out)
    for k, v in acc.items():
        print(f"{k}: held-out accuracy {v:.2f}% (numpy, float64)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
