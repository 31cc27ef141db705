"""`edgeplan toolchain install|list`: the vendor toolchains `edgeplan bundle` uses."""
from __future__ import annotations

import click


@click.group()
def toolchain():
    """The vendor toolchains that build and verify bundle artifacts.

    OpenVINO and TensorFlow Lite install into edgeplan's own environment as extras
    (pip install 'edgeplan[openvino]', 'edgeplan[tflite]'). Rockchip's rknn-toolkit2 pins
    numpy, onnx and protobuf versions that clash with edgeplan's, so it gets an environment
    of its own, which `install rknn` makes and `bundle` finds.

    Example: edgeplan toolchain install rknn
    """


@toolchain.command("install")
@click.argument("name", type=click.Choice(["rknn"]))
@click.option("--dir", "root", type=click.Path(file_okay=False), default=None,
              help="Where to make the environment (default: "
                   "~/.cache/edgeplan/toolchains/rknn-toolkit2-2.5.0, under $XDG_CACHE_HOME "
                   "when set). Elsewhere, point EDGEPLAN_RKNN_PYTHON at its bin/python.")
@click.option("--python", "python", default=None,
              help="The Python to make it with (default: this one; rknn-toolkit2 has wheels "
                   "for CPython 3.6-3.12 on x86-64 and aarch64 Linux).")
@click.option("--torch", "torch", default=None,
              help="The torch requirement (default: the toolkit's own pin, "
                   "'torch>=1.10.1,<=2.4.0', a CUDA build of several GB from PyPI on x86-64 "
                   "Linux). The toolkit imports torch but converts ONNX without it, so a CPU "
                   "build does: e.g. --torch 'torch==2.4.0' with PIP_EXTRA_INDEX_URL="
                   "https://download.pytorch.org/whl/cpu.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def install(name, root, python, torch, quiet):
    """Make the environment a vendor toolchain runs in, with pip (needs the package
    registry, like any pip install; nothing is downloaded later).

    For rknn: a venv with rknn-toolkit2 2.5.0 installed without its dependencies, then
    the packages it imports at the versions it pins (numpy 1.26.4, onnx 1.18.0, protobuf
    4.25.4, ...; opencv-python-headless for opencv-python) and torch.

    Example: edgeplan toolchain install rknn --dir ~/toolchains/rknn
    """
    from pathlib import Path

    from planner.bundle import rknn_artifact

    def show(stage, done, total, message=""):
        if message and not quiet:
            click.echo(f"edgeplan: [{stage}] {message}", err=True)
    found = rknn_artifact.install(root, python=python,
                                  torch=torch or rknn_artifact.DEFAULT_TORCH, progress=show)
    click.echo(f"{rknn_artifact.TOOLKIT} {found[rknn_artifact.TOOLKIT]} is ready in "
               f"{found['python']} (Python {found['python_version']})")
    if root is not None and Path(root).absolute() != rknn_artifact.toolchain_dir().absolute():
        click.echo(f"edgeplan bundle finds it with: export {rknn_artifact.PYTHON_ENV}="
                   f"{found['python']}")


@toolchain.command("list")
def list_toolchains():
    """Say which vendor toolchains this edgeplan finds, and how to install the others.

    Example: edgeplan toolchain list
    """
    import importlib.util

    from planner.bundle import openvino_ir, rknn_artifact, tflite_artifact

    def have(mods):
        try:
            return all(importlib.util.find_spec(m) is not None for m in mods)
        except (ImportError, ValueError):
            return False
    rows = [("openvino", "OpenVINO IR", have(["openvino", "nncf"]), openvino_ir.INSTALL),
            ("tflite", "TensorFlow Lite", have([m for m, _ in tflite_artifact._NEEDED]),
             tflite_artifact.INSTALL)]
    for name, what, ok, how in rows:
        click.echo(f"{name:9} {what:16} " + ("installed" if ok else f"missing: {how}"))
    rk = rknn_artifact.find_toolchain()
    click.echo(f"{'rknn':9} {'RKNN':16} " + (
        f"rknn-toolkit2 {rk[rknn_artifact.TOOLKIT]} in {rk['python']}" if rk else
        f"missing: {rknn_artifact.why_not_found()}"))
