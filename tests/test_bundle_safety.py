"""A bundle never destroys what it did not create (issue 20, section 2): --force replaces only
an unchanged bundle, the final move never replaces what appeared while the bundle was built
(nor a bundle another run finished meanwhile), and SIGTERM / SIGINT at any stage leave no
temporary directory or file behind.

The race and signal cases use the documented test hooks EDGEPLAN_TEST_PAUSE_BEFORE_MOVE and
EDGEPLAN_TEST_PAUSE_BEFORE_REPLACE: the run creates F.waiting at that point and waits until F
exists, so a test can change the target or send a signal there. Every bundle here is the
smallest example model (the digits MLP, dynamic INT8 on a CPU, ~1.5 s)."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest_bundle import (  # noqa: F401
    MLP,
    ROOT,
    bundle_catalog,
    catalog_dir,
    only_test_catalog,
    workload,
    write_manifest,
)

from planner import exitcodes
from planner.bundle.build import PAUSE_BEFORE_MOVE, BundleOptions, build_bundle
from planner.errors import InputError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and renames")

MLP_WL = workload(model="digits-mlp", model_file=str(MLP))


def plan(tmp_path: Path) -> Path:
    return write_manifest(tmp_path / "deploy.yaml", MLP_WL)


def build(tmp_path, cat, out, **opts):
    opts.setdefault("benchmark_runs", 2)
    opts.setdefault("samples", 4)
    return build_bundle(plan(tmp_path), cat, BundleOptions(out_dir=out, **opts))


def snapshot(d: Path) -> dict:
    """Every path under `d` with its bytes (None for a directory, the target for a link)."""
    out = {}
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d).as_posix()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = None
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()
                  if p.name.startswith(".edgeplan-bundle-") or p.name.endswith(".tmp")
                  or "edgeplan-backup" in p.name)


@pytest.fixture(scope="module")
def made_bundle(tmp_path_factory, bundle_catalog):
    """One real bundle, copied by the tests that need an existing one."""
    d = tmp_path_factory.mktemp("made")
    build(d, bundle_catalog, d / "release")
    return d / "release"


def copy_bundle(made_bundle, where: Path) -> Path:
    shutil.copytree(made_bundle, where, symlinks=True)
    return where


# ---------------------------------------------------------------- --force

def test_force_keeps_files_the_user_added_exit_2_one_line(tmp_path, made_bundle, catalog_dir):
    release = copy_bundle(made_bundle, tmp_path / "release")
    (release / "firmware.bin").write_bytes(b"\x7fELF user firmware")
    before = snapshot(release)
    r = subprocess.run([sys.executable, "-m", "planner.cli", "bundle", str(plan(tmp_path)),
                        "-o", str(release), "--force", "--benchmark", "2", "--samples", "4",
                        "-q", "--catalog", str(catalog_dir), "--no-builtin"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == exitcodes.USAGE, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "release/firmware.bin is not listed in SHA256SUMS" in lines[0]
    assert "nothing was changed" in lines[0]
    assert snapshot(release) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("damage, named", [
    (lambda d: (d / "README.md").write_text("my notes"), "release/README.md was changed"),
    (lambda d: ((d / "extra").mkdir(), (d / "extra" / "notes.txt").write_text("x")),
     "release/extra/notes.txt is not listed"),
    (lambda d: (d / "empty").mkdir(), "release/empty/ is not listed"),
    (lambda d: (d / "link").symlink_to("/etc/hostname"), "release/link is not listed"),
    (lambda d: (d / "SHA256SUMS").unlink(), "SHA256SUMS is missing"),
    (lambda d: (d / "SHA256SUMS").write_text("not a sums line\n"),
     "SHA256SUMS line 1 is not"),
])
def test_force_replaces_only_an_unchanged_bundle(tmp_path, bundle_catalog, made_bundle,
                                                 damage, named):
    release = copy_bundle(made_bundle, tmp_path / "release")
    damage(release)
    before = snapshot(release)
    with pytest.raises(InputError, match="--force replaces only an unchanged") as e:
        build(tmp_path, bundle_catalog, release, force=True)
    assert named in str(e.value)
    assert snapshot(release) == before
    assert leftovers(tmp_path) == []


def test_force_replaces_an_unchanged_bundle(tmp_path, bundle_catalog, made_bundle):
    release = copy_bundle(made_bundle, tmp_path / "release")
    (release / "sample_inputs.npz").unlink()        # a listed file removed loses nothing
    build(tmp_path, bundle_catalog, release, force=True)
    assert (release / "sample_inputs.npz").exists()
    assert leftovers(tmp_path) == []


def test_an_empty_directory_is_filled_without_force(tmp_path, bundle_catalog):
    (tmp_path / "release").mkdir()
    build(tmp_path, bundle_catalog, tmp_path / "release")
    assert (tmp_path / "release" / "SHA256SUMS").exists()
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- what appears meanwhile

def start_paused(tmp_path, out, *extra, name="go", hook=PAUSE_BEFORE_MOVE, argv=None):
    """An edgeplan run in a subprocess that stops at the test hook; returns it and the file
    that releases it."""
    go = tmp_path / name
    env = dict(os.environ, **{hook: str(go)}, PYTHONPATH=str(ROOT), EDGEPLAN_NO_CACHE="1")
    if argv is None:
        argv = ["bundle", str(plan(tmp_path)), "-o", str(out), "--benchmark", "2",
                "--samples", "4", "-q", *extra]
    p = subprocess.Popen([sys.executable, "-m", "planner.cli", *argv], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiting = Path(str(go) + ".waiting")
    wait_for(waiting, p)
    target = out if out is not None else argv[-1]
    assert os.path.realpath(waiting.read_text()) == os.path.realpath(target)
    return p, go


def wait_for(path: Path, proc, timeout=90.0):
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size):    # written, not only created
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before {path.name}: {err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {path.name} after {timeout} s")
        time.sleep(0.02)


def finish(proc, go: Path):
    go.touch()
    out, err = proc.communicate(timeout=90)
    return proc.returncode, err


@pytest.mark.parametrize("what, force", [("directory with a file", False),
                                         ("empty directory", False), ("file", False),
                                         ("directory with a file", True)])
def test_what_appears_at_the_target_during_the_build_is_never_replaced(
        tmp_path, catalog_dir, what, force):
    out = tmp_path / "release"
    p, go = start_paused(tmp_path, out, "--catalog", str(catalog_dir), "--no-builtin",
                         *(["--force"] if force else []))
    if what == "file":
        out.write_text("someone's file")
    else:
        out.mkdir()
        if what != "empty directory":
            (out / "firmware.bin").write_bytes(b"user data")
    before = snapshot(out) if out.is_dir() else out.read_text()
    code, err = finish(p, go)
    assert code == exitcodes.USAGE, err
    assert "appeared at the output path while the bundle was being built" in err
    assert len(err.strip().splitlines()) == 1, err
    assert (snapshot(out) if out.is_dir() else out.read_text()) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("force", [False, True])
def test_two_bundles_to_one_target_the_second_to_finish_is_refused(
        tmp_path, catalog_dir, bundle_catalog, force):
    out = tmp_path / "release"
    p, go = start_paused(tmp_path, out, "--catalog", str(catalog_dir), "--no-builtin",
                         *(["--force"] if force else []))
    build(tmp_path, bundle_catalog, out, force=force)      # the other run finishes first
    first = snapshot(out)
    code, err = finish(p, go)
    assert code == exitcodes.USAGE, err
    assert "appeared at the output path" in err
    assert snapshot(out) == first
    assert leftovers(tmp_path) == []


def test_force_keeps_a_file_added_to_the_old_bundle_during_the_build(
        tmp_path, catalog_dir, made_bundle):
    release = copy_bundle(made_bundle, tmp_path / "release")
    p, go = start_paused(tmp_path, release, "--force", "--catalog", str(catalog_dir),
                         "--no-builtin")
    (release / "firmware.bin").write_bytes(b"user data")
    before = snapshot(release)
    code, err = finish(p, go)
    assert code == exitcodes.USAGE, err
    assert "release/firmware.bin is not listed in SHA256SUMS" in err
    assert snapshot(release) == before
    assert leftovers(tmp_path) == []


def test_force_replaces_the_old_bundle_it_checked(tmp_path, catalog_dir, made_bundle):
    release = copy_bundle(made_bundle, tmp_path / "release")
    old = (release / "verification.json").read_bytes()
    p, go = start_paused(tmp_path, release, "--force", "--catalog", str(catalog_dir),
                         "--no-builtin")
    code, err = finish(p, go)
    assert code == exitcodes.OK, err
    assert (release / "verification.json").read_bytes() != old
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- signals

@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, exitcodes.TERMINATED),
                                       (signal.SIGINT, exitcodes.INTERRUPTED)])
def test_a_signal_at_the_write_step_leaves_nothing_behind(tmp_path, catalog_dir, sig, code):
    out = tmp_path / "new" / "deeper" / "release"       # parents the run creates
    p, go = start_paused(tmp_path, out, "--catalog", str(catalog_dir), "--no-builtin")
    assert out.parent.is_dir() and leftovers(tmp_path / "new" / "deeper")
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert "Traceback" not in err
    assert not (tmp_path / "new").exists()     # temporary directory and new parents removed
    assert leftovers(tmp_path) == []


def test_sigterm_while_verifying_leaves_nothing_behind(tmp_path, catalog_dir):
    out = tmp_path / "release"
    p = subprocess.Popen([sys.executable, "-m", "planner.cli", "bundle", str(plan(tmp_path)),
                          "-o", str(out), "--benchmark", "20000", "--samples", "4",
                          "--catalog", str(catalog_dir), "--no-builtin"],
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:                        # progress: the build is under way
        if "[verify]" in line or "[benchmark]" in line:
            break
    assert leftovers(tmp_path), "the build's temporary directory should exist by now"
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    assert p.returncode == exitcodes.TERMINATED
    assert not out.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, exitcodes.TERMINATED),
                                       (signal.SIGINT, exitcodes.INTERRUPTED)])
def test_a_signal_before_an_output_file_is_replaced_keeps_the_old_one(tmp_path, sig, code):
    from planner.atomicfile import PAUSE_BEFORE_REPLACE
    manifest = write_manifest(tmp_path / "deploy.yaml", MLP_WL)
    report = tmp_path / "lint.txt"
    report.write_text("the old report\n")
    p, go = start_paused(tmp_path, None, hook=PAUSE_BEFORE_REPLACE,
                         argv=["lint", str(manifest), "-o", str(report)])
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert report.read_text() == "the old report\n"
    assert leftovers(tmp_path) == []
