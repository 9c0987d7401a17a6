"""The native core under AddressSanitizer and UndefinedBehaviorSanitizer.

Configures a fresh build with -DTSNE_SANITIZE=ON -DTSNE_BUILD_NATIVE_TESTS=ON,
builds only the C++ test driver (tests/native/core_checks.cpp, edge cases of
the core's functions without Python) and runs it; a failed check, a sanitizer
report (out-of-bounds access, use after free, leak, undefined behaviour) or a
crash fails the test.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cxx_compiler():
    compiler = os.environ.get("CXX")
    if compiler:
        return shutil.which(compiler.split()[0])
    return next(filter(None, map(shutil.which, ("c++", "g++", "clang++"))), None)


def _run(command, **kwargs):
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                            **kwargs)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{output[-8000:]}"
    return output


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
@pytest.mark.skipif(_cxx_compiler() is None, reason="no C++ compiler")
def test_core_checks_pass_under_address_and_undefined_behavior_sanitizers(tmp_path):
    pybind11 = pytest.importorskip("pybind11")
    build = tmp_path / "build"
    _run(["cmake", "-S", ROOT, "-B", build, "-DTSNE_SANITIZE=ON", "-DTSNE_BUILD_NATIVE_TESTS=ON",
          "-DCMAKE_BUILD_TYPE=RelWithDebInfo", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
          f"-DPython_EXECUTABLE={sys.executable}"])
    _run(["cmake", "--build", build, "--target", "core_checks", "--parallel", "2"])

    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1")
    result = subprocess.run([str(build / "core_checks")], env=env, capture_output=True,
                            text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "runtime error" not in output, output[-8000:]
    assert "ERROR: AddressSanitizer" not in output, output[-8000:]
    assert "ERROR: LeakSanitizer" not in output, output[-8000:]
    assert "0 failed" in output
