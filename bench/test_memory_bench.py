"""Peak RSS of the whole affinity call, each system in a fresh process.

    python -m pytest bench/test_memory_bench.py --benchmark-json=bench/memory.json
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("peak_rss.py")


@pytest.mark.benchmark(group="peak RSS of affinities (fresh process)")
@pytest.mark.parametrize("system", ["tsne_native", "tsne_native_exact", "sklearn", "opentsne"])
def test_peak_rss(benchmark, system):
    def run():
        out = subprocess.run([sys.executable, str(SCRIPT), system], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    assert result["peak_rss_mb"] > result["rss_before_call_mb"]
