"""The native core builds and works without OpenMP (single-threaded)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import importlib.util, sys
import numpy as np
import scipy_openblas32  # loads OpenBLAS, as tsne_native's __init__ does

spec = importlib.util.spec_from_file_location("_core", sys.argv[1])
core = importlib.util.module_from_spec(spec)
spec.loader.exec_module(core)
assert core.has_openmp() is False
X = np.random.default_rng(0).normal(size=(300, 7))
indices, distances = core.exact_knn(X, 9, core.Metric.euclidean, 4)
D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
np.fill_diagonal(D, np.inf)
assert (indices == np.argsort(D, axis=1, kind="stable")[:, :9]).all()
assert np.allclose(distances, np.sort(D, axis=1)[:, :9], rtol=1e-12)
"""


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_core_builds_and_runs_without_openmp(tmp_path):
    pybind11 = pytest.importorskip("pybind11")
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-DTSNE_USE_OPENMP=OFF",
                    "-DCMAKE_BUILD_TYPE=Release", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
                    f"-DPython_EXECUTABLE={sys.executable}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build), "--parallel", "2"], check=True,
                   capture_output=True)
    module = next(build.glob("_core*.so"))
    subprocess.run([sys.executable, "-c", CHECK, str(module)], check=True)
