"""Peak resident memory of one affinity computation (or t-SNE fit), in a fresh process.

    python bench/peak_rss.py {tsne_native,tsne_native_exact,sklearn,opentsne}
    TSNE_BENCH_N=60000 python bench/peak_rss.py {tsne_native_fit,opentsne_fit}

Prints one JSON line: the call's wall time, the process's peak RSS (MB), and
the RSS before the call (imports and the uint8 data loaded).  The peak is the
kernel's high-water mark of this process's own memory (VmHWM): getrusage's
ru_maxrss would also count the parent's RSS inherited through fork and exec.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import THREADS, load_benchmark_data

PERPLEXITY = 30


def run_tsne_native(X):
    """The default method ("auto": approximate neighbours on MNIST-sized data)."""
    import tsne_native
    return lambda: tsne_native.affinities(X, PERPLEXITY, n_jobs=THREADS, random_state=0)


def run_tsne_native_exact(X):
    import tsne_native
    return lambda: tsne_native.affinities(X, PERPLEXITY, method="exact", n_jobs=THREADS)


def run_sklearn(X):
    from sklearn.manifold._t_sne import _joint_probabilities_nn
    from sklearn.neighbors import NearestNeighbors

    def path():
        k = min(len(X) - 1, int(3.0 * PERPLEXITY + 1))
        data = X.astype(np.float32)
        graph = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=THREADS).fit(data)
        distances = graph.kneighbors_graph(mode="distance")
        distances.data **= 2
        return _joint_probabilities_nn(distances, PERPLEXITY, 0)
    return path


def run_opentsne(X):
    from openTSNE import affinity
    return lambda: affinity.PerplexityBasedNN(X.astype(np.float32), perplexity=PERPLEXITY,
                                              method="annoy", n_jobs=THREADS, random_state=0)


def run_tsne_native_fit(X):
    """A whole TSNE fit with its defaults, on X / 255 as float32."""
    import tsne_native
    data = X.astype(np.float32) / 255
    return lambda: tsne_native.TSNE(n_jobs=THREADS, random_state=0).fit(data)


def run_opentsne_fit(X):
    import openTSNE
    data = X.astype(np.float32) / 255
    return lambda: openTSNE.TSNE(n_jobs=THREADS, random_state=0).fit(data)


def memory_status_mb(field):
    """A VmRSS/VmHWM-style field of /proc/self/status, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


if __name__ == "__main__":
    import numpy as np

    systems = {"tsne_native": run_tsne_native, "tsne_native_exact": run_tsne_native_exact,
               "sklearn": run_sklearn, "opentsne": run_opentsne,
               "tsne_native_fit": run_tsne_native_fit, "opentsne_fit": run_opentsne_fit}
    X, description = load_benchmark_data()
    call = systems[sys.argv[1]](X)
    before = memory_status_mb("VmRSS")
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    peak = memory_status_mb("VmHWM")
    print(json.dumps({"system": sys.argv[1], "data": description, "seconds": round(seconds, 2),
                      "peak_rss_mb": round(peak), "rss_before_call_mb": round(before)}))
