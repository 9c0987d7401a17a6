"""TensorFlow's import: the native log lines that TF_CPP_MIN_LOG_LEVEL is meant to hide."""

import os
import subprocess
import sys

import pytest

from tsne_native import _tensorflow

LINES = ["WARNING: All log messages before absl::InitializeLog() is called are written to "
         "STDERR\n",
         "I0000 00:00:1796651303.300192   17200 port.cc:153] oneDNN custom operations are on.\n",
         "W0000 00:00:1796651303.300715   17200 some.cc:31] a warning\n",
         "E0000 00:00:1796651321.658093   17200 cuda_platform.cc:52] failed call to cuInit\n",
         "Traceback (most recent call last): a line that is not a log line\n"]


@pytest.mark.parametrize("level, kept", [("0", [0, 1, 2, 3, 4]), ("1", [0, 2, 3, 4]),
                                         ("2", [3, 4]), ("3", [4])])
def test_native_lines_below_the_level_are_dropped(monkeypatch, capfd, level, kept):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    with _tensorflow._native_logs_filtered():
        for line in LINES:
            os.write(2, line.encode())
    err = capfd.readouterr().err
    assert err == "".join(LINES[index] for index in kept)


def test_importing_tensorflow_prints_no_information_lines():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", "import tsne_native._tensorflow"], env=env,
                          capture_output=True, text=True, check=True)
    assert not [line for line in done.stderr.splitlines()
                if (line[:1] in "IW" and line[1:5].isdigit()) or "absl::InitializeLog" in line]
