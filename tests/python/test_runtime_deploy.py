"""Deployment from Python: a small graph (a matmul with an embedded weight, then bias + ReLU)
compiled and exported with tessel.compile, loaded with tessel.runtime (ctypes over the C runtime
alone), compared with numpy; every user error through the Python API and the CLI; a C program
built with `tessel config` flags runs the same module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tessel

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not tessel.native_available(), reason="tessel._tessel is not built")

M, K, N = 3, 37, 19


def _export(path: Path) -> tuple:
    from tessel import relay

    rng = np.random.default_rng(0)
    weight = rng.uniform(-1, 1, (K, N)).astype("float32")
    bias = rng.uniform(-1, 1, (N,)).astype("float32")
    builder = relay.GraphBuilder()
    x = builder.input("x", (M, K))
    hidden = builder.call("matmul", [x, builder.param("weight", weight)])
    builder.output(builder.call("relu", [builder.call("add", [hidden, builder.param("bias", bias)])]))
    graph, params = builder.finish()
    tessel.compile(graph, params, verbose=False).export_library(str(path))
    return weight, bias


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    path = tmp_path_factory.mktemp("deploy") / "model.so"
    weight, bias = _export(path)
    return path, weight, bias


def _reference(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return np.maximum(x.astype(np.float64) @ weight + bias, 0).astype(np.float32)


def test_run_matches_numpy(exported: tuple) -> None:
    from tessel import runtime

    path, weight, bias = exported
    module = runtime.load(path)
    assert module.input_names == ["x"] and module.output_names == ["output"]
    assert module.metadata["format_version"] == 1
    x = np.random.default_rng(1).uniform(-2, 2, (M, K)).astype("float32")
    (y,) = module.run(x=x)
    np.testing.assert_allclose(y, _reference(x, weight, bias), rtol=1e-5, atol=1e-5)
    # set_input / run / get_output, with a non-contiguous input (copied) and a torch tensor (DLPack).
    x2 = np.asfortranarray(np.random.default_rng(2).uniform(-2, 2, (M, K)).astype("float32"))
    module.set_input("x", x2)
    module.run()
    np.testing.assert_allclose(module.get_output("output"), _reference(x2, weight, bias), rtol=1e-5, atol=1e-5)
    torch = pytest.importorskip("torch")
    module.set_input(0, torch.from_numpy(np.ascontiguousarray(x)))
    module.run()
    np.testing.assert_allclose(module.get_output(0), y, rtol=0, atol=0)
    assert "fused_matmul_add_relu_0" in module.run_profile(2)


def test_errors_through_python(exported: tuple, tmp_path: Path) -> None:
    from tessel import runtime

    path = exported[0]
    module = runtime.load(path)
    x = np.zeros((M, K), "float32")
    cases = [
        (lambda: runtime.load(tmp_path / "missing.so"), "TESSEL_ERROR_FILE_NOT_FOUND", "missing.so"),
        (lambda: runtime.load(__file__), "TESSEL_ERROR_NOT_A_MODULE", "not a Tessel module"),
        (lambda: module.set_input("nope", x), "TESSEL_ERROR_UNKNOWN_NAME", "no input named 'nope'"),
        (lambda: module.set_input("x", x.T), "TESSEL_ERROR_SHAPE_MISMATCH", "expected shape (3, 37)"),
        (lambda: module.set_input("x", x.astype("int32")), "TESSEL_ERROR_DTYPE_MISMATCH", "expected dtype float32"),
        (lambda: module.get_output("nope"), "TESSEL_ERROR_UNKNOWN_NAME", "no output named 'nope'"),
    ]
    future = tmp_path / "future.c"
    future.write_text("const unsigned __tessel_format_version = 7;\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tmp_path / "future.so"), str(future)], check=True)
    cases.append((lambda: runtime.load(tmp_path / "future.so"), "TESSEL_ERROR_VERSION_MISMATCH", "format version 7"))
    for call, status, fragment in cases:
        with pytest.raises(runtime.TesselRuntimeError) as info:
            call()
        assert info.value.status == status
        assert fragment in str(info.value)
        assert isinstance(info.value, tessel.TesselError)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    return subprocess.run([sys.executable, "-m", "tessel", *args], capture_output=True, text=True, env=env)


def test_cli_run_and_errors(exported: tuple, tmp_path: Path) -> None:
    path, weight, bias = exported
    x = np.random.default_rng(3).uniform(-2, 2, (M, K)).astype("float32")
    np.savez(tmp_path / "in.npz", x=x)
    done = _cli("run", str(path), "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz"), "--repeat", "3")
    assert done.returncode == 0, done.stderr
    assert "latency" in done.stdout
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["output"], _reference(x, weight, bias), rtol=1e-5, atol=1e-5)
    for args, fragment in [
        (["run", str(tmp_path / "missing.so")], "missing.so"),
        (["run", str(path)], "no value for input(s) x"),
    ]:
        done = _cli(*args)
        assert done.returncode != 0
        assert fragment in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_c_program_with_tessel_config(exported: tuple, tmp_path: Path) -> None:
    path, weight, bias = exported
    flags = _cli("config", "--cflags", "--libs")
    assert flags.returncode == 0, flags.stderr
    source = tmp_path / "app.c"
    source.write_text(
        """
#include <stdio.h>
#include "tessel/runtime/c_api.h"
int main(int argc, char** argv) {
  TesselModule* m = NULL;
  float x[3 * 37], y[3 * 19];
  int64_t xs[2] = {3, 37}, ys[2] = {3, 19};
  if (fread(x, sizeof x, 1, stdin) != 1) return 3;
  DLTensor xt = {x, {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, xs, NULL, 0};
  DLTensor yt = {y, {kDLCPU, 0}, 2, {kDLFloat, 32, 1}, ys, NULL, 0};
  if (tessel_module_load(argv[1], &m) || tessel_module_set_input(m, "x", &xt) || tessel_module_run(m) ||
      tessel_module_get_output(m, 0, &yt)) {
    fprintf(stderr, "%s\\n", tessel_get_last_error());
    return 1;
  }
  fwrite(y, sizeof y, 1, stdout);
  tessel_module_free(m);
  return 0;
}
"""
    )
    program = tmp_path / "app"
    subprocess.run(["sh", "-c", f"cc {source} -o {program} {flags.stdout.strip()}"], check=True)
    x = np.random.default_rng(4).uniform(-2, 2, (M, K)).astype("float32")
    done = subprocess.run([str(program), str(path)], input=x.tobytes(), capture_output=True, env={})
    assert done.returncode == 0, done.stderr
    y = np.frombuffer(done.stdout, dtype=np.float32).reshape(M, N)
    np.testing.assert_allclose(y, _reference(x, weight, bias), rtol=1e-5, atol=1e-5)
