import subprocess
import sys

import tsne_native


def test_public_names():
    for name in ("affinities", "calibrate", "nearest_neighbors", "has_openmp", "datasets"):
        assert hasattr(tsne_native, name)
    assert tsne_native.__version__


def test_has_openmp_reports_the_build():
    assert isinstance(tsne_native.has_openmp(), bool)


def test_import_does_not_import_tensorflow():
    code = "import sys, tsne_native; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
