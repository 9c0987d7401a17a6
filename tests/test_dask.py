"""tsne_native.dask: a chunked dask array embedded on the worker processes of a LocalCluster."""

import logging
import shutil
import sys

import numpy as np
import pytest

import tsne_native
import tsne_native.dask

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

N_FEATURES = 12
# The environment of each worker process: CPU only, one thread each.
WORKER_ENV = {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
              "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def points(n, seed):
    """``n`` points in ``N_FEATURES``-D around 4 centres, float64."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(scale=5.0, size=(4, N_FEATURES))
    return centres[rng.integers(0, 4, size=n)] + rng.normal(size=(n, N_FEATURES))


@pytest.fixture(scope="module")
def client():
    """A client of two single-threaded worker processes (no fixed ports, no dashboard)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR,
                                  env=WORKER_ENV) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small ParametricTSNE and TSNE, each saved: {"parametric": dir, "tsne": dir}."""
    X = points(400, seed=1)
    root = tmp_path_factory.mktemp("models")
    tsne_native.ParametricTSNE(hidden_layers=(16,), n_epochs=3, batch_size=64,
                               random_state=0).fit(X).save(root / "parametric")
    tsne_native.TSNE(perplexity=20, n_iter=100, early_exaggeration_iter=50, n_jobs=1,
                     random_state=0).fit(X).save(root / "tsne")
    return {"parametric": root / "parametric", "tsne": root / "tsne"}


@pytest.fixture(scope="module")
def new_points():
    """2,500 new points, and them as a dask array of 700-row blocks (the last one 400)."""
    X = points(2500, seed=2)
    return X, da.from_array(X, chunks=(700, N_FEATURES))


@pytest.mark.parametrize("kind, dtype", [("parametric", np.float32), ("tsne", np.float64)])
def test_blocks_embedded_on_the_workers_equal_one_transform(kind, dtype, saved, new_points,
                                                            client):
    X, blocks = new_points
    embedding = tsne_native.dask.transform(saved[kind], blocks)
    assert isinstance(embedding, da.Array)
    assert embedding.shape == (2500, 2) and embedding.dtype == dtype
    assert embedding.chunks == ((700, 700, 700, 400), (2,))
    computed = embedding.compute()
    assert computed.dtype == dtype and computed.shape == (2500, 2)
    expected = tsne_native.load(saved[kind]).transform(X)
    np.testing.assert_allclose(computed, expected, rtol=1e-5, atol=1e-5)


def test_each_worker_loads_the_model_once(saved, new_points, client, tmp_path):
    """Nine blocks on two workers: at most one load per worker process."""
    path = tmp_path / "copy"  # a path no worker has loaded yet
    shutil.copytree(saved["parametric"], path)
    client.run(_count_loads)
    X, _ = new_points
    result = tsne_native.dask.transform(path, da.from_array(X, chunks=(300, N_FEATURES)))
    assert result.numblocks == (9, 1)
    result.compute()
    loads = client.run(_loads_counted)
    assert 1 <= sum(loads.values()) <= len(loads) and max(loads.values()) == 1, loads


def _count_loads():
    """On a worker: count the calls of tsne_native.saved.load from now on."""
    import tsne_native.saved as saved_module

    original = getattr(saved_module, "_uncounted_load", saved_module.load)
    saved_module._uncounted_load, saved_module.loads_counted = original, 0

    def counted(path):
        saved_module.loads_counted += 1
        return original(path)

    saved_module.load = counted


def _loads_counted():
    import tsne_native.saved as saved_module

    return saved_module.loads_counted


def test_column_chunks_are_joined(saved, new_points, client):
    X, _ = new_points
    split_columns = da.from_array(X, chunks=(1000, 5))
    embedding = tsne_native.dask.transform(saved["parametric"], split_columns)
    assert embedding.chunks == ((1000, 1000, 500), (2,))
    np.testing.assert_allclose(embedding.compute(),
                               tsne_native.load(saved["parametric"]).transform(X),
                               rtol=1e-5, atol=1e-5)


def test_bad_input(saved, new_points, tmp_path):
    X, blocks = new_points
    model = saved["parametric"]
    with pytest.raises(TypeError, match=r"X must be a dask.array.Array; got ndarray"):
        tsne_native.dask.transform(model, X)
    with pytest.raises(ValueError, match=r"X has 11 columns \(features\), but the model in .* "
                                         r"was fitted on 12"):
        tsne_native.dask.transform(model, blocks[:, :11])
    with pytest.raises(ValueError, match=r"X must be 2-D \(n_samples, n_features\); got 1-D"):
        tsne_native.dask.transform(model, blocks[:, 0])
    with pytest.raises(TypeError, match="X must hold real numbers; got dtype <U1"):
        tsne_native.dask.transform(model, da.from_array(np.full((4, N_FEATURES), "a")))
    with pytest.raises(FileNotFoundError, match="is not a saved ParametricTSNE or TSNE"):
        tsne_native.dask.transform(tmp_path, blocks)
    with pytest.raises(ValueError, match=r"number of columns is unknown"):
        tsne_native.dask.transform(model, blocks.map_blocks(
            lambda block: block, chunks=(blocks.chunks[0], (np.nan,))))


def test_without_dask_the_error_names_the_extra(monkeypatch, new_points, saved):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r'pip install "tsne-native\[dask\]"'):
        tsne_native.dask.transform(saved["parametric"], new_points[1])
