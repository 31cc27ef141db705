"""The seed's anti-patterns, linted against the real catalog: 7B on a Jetson Nano 4 GB, FP32 on
an Edge TPU, FP32 on Hailo, INT4 where it is unsupported. Unit ids are looked up in the catalog
rather than assumed; a case is skipped while the catalog lacks its device or model."""
from __future__ import annotations

import textwrap

import pytest

from planner.lint.engine import lint_paths


@pytest.fixture(scope="module")
def real():
    from planner.catalog.loader import load_catalog
    from planner.errors import EdgeplanError
    try:
        return load_catalog(use_env=False)
    except EdgeplanError as e:           # the catalog is being written by others right now
        pytest.skip(f"the built-in catalog does not load: {e.one_line()}")


def need(cat, *ids):
    missing = [i for i in ids if i not in cat.devices and i not in cat.models]
    if missing:
        pytest.skip(f"the built-in catalog has no {', '.join(missing)} yet")


def accel(cat, device_id):
    u = next((u for u in cat.devices[device_id].units if u.kind != "cpu"), None)
    if u is None:
        pytest.skip(f"{device_id} has no accelerator unit in the catalog")
    return u


def lint(tmp_path, cat, body: str):
    p = tmp_path / "deploy.yaml"
    p.write_text("apiVersion: edgeplan/v1\nkind: Deployment\n" + textwrap.dedent(body))
    return lint_paths([str(p)], catalog=cat, cwd=str(tmp_path))


def small_model(cat, precision: str):
    """A small catalog vision model with an option at `precision` (mobilenet-v2 when there)."""
    order = ["mobilenet-v2", "mobilenet-v1", "efficientnet-lite0", "mobilenet-v3-small"]
    for mid in order + sorted(cat.models):
        m = cat.models.get(mid)
        if m is not None and m.llm is None and any(o.precision == precision for o in m.options):
            return m.id
    pytest.skip(f"no model with a {precision} option")


def test_7b_on_jetson_nano_4gb(tmp_path, real):
    need(real, "jetson-nano-4gb", "llama-3-8b")
    r = lint(tmp_path, real, """\
        devices: [{id: jetson-nano-4gb}]
        workloads:
          - name: chat
            model: llama-3-8b
            precision: fp16
            device: jetson-nano-4gb
        """)
    mem = [f for f in r.findings if f.rule == "EP101"]
    assert [(f.line, f.column) for f in mem] == [(6, 5)]
    assert "llama-3-8b at FP16 needs" in mem[0].message and "jetson-nano-4gb" in mem[0].message


def test_fp32_on_the_edge_tpu(tmp_path, real):
    need(real, "coral-usb-on-rpi5")
    tpu = accel(real, "coral-usb-on-rpi5")
    model = small_model(real, "int8")
    r = lint(tmp_path, real, f"""\
        devices: [{{id: coral-usb-on-rpi5}}]
        workloads:
          - name: cls
            model: {model}
            precision: fp32
            device: coral-usb-on-rpi5
            unit: {tpu.id}
        """)
    bad = [f for f in r.findings if f.rule == "EP201"]
    assert [(f.line, f.column) for f in bad] == [(7, 5)]
    assert "INT8" in bad[0].fix


def test_fp32_on_coral_without_a_unit_is_flagged(tmp_path, real):
    """Without `unit:`, FP32 runs on the host CPU: lint recommends INT8 on the TPU (EP202),
    or, if no unit runs FP32, says so (EP201)."""
    need(real, "coral-usb-on-rpi5")
    model = small_model(real, "int8")
    r = lint(tmp_path, real, f"""\
        devices: [{{id: coral-usb-on-rpi5}}]
        workloads:
          - {{name: cls, model: {model}, precision: fp32, device: coral-usb-on-rpi5}}
        """)
    hit = [f for f in r.findings if f.rule in ("EP201", "EP202")]
    assert len(hit) == 1 and "INT8" in hit[0].fix


def test_fp32_on_hailo(tmp_path, real):
    need(real, "hailo-8-on-rpi5")
    npu = accel(real, "hailo-8-on-rpi5")
    model = small_model(real, "int8")
    r = lint(tmp_path, real, f"""\
        devices: [{{id: hailo-8-on-rpi5}}]
        workloads:
          - {{name: det, model: {model}, precision: fp32, device: hailo-8-on-rpi5, unit: {npu.id}}}
        """)
    assert [f.rule for f in r.findings if f.rule == "EP201"] == ["EP201"]


def test_int4_where_unsupported(tmp_path, real):
    need(real, "coral-usb-on-rpi5", "llama-3.2-1b")
    tpu = accel(real, "coral-usb-on-rpi5")
    if "int4" in tpu.precisions:
        pytest.skip("this Edge TPU entry lists INT4")
    r = lint(tmp_path, real, f"""\
        devices: [{{id: coral-usb-on-rpi5}}]
        workloads:
          - {{name: chat, model: llama-3.2-1b, precision: int4, device: coral-usb-on-rpi5,
             unit: {tpu.id}}}
        """)
    assert "EP201" in [f.rule for f in r.findings]
