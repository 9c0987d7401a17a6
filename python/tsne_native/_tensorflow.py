"""TensorFlow and Keras, imported once for every module that uses them, C++ logging quiet.

The log level must be set before TensorFlow loads; the user's own setting wins.
TensorFlow 2.21's native libraries log through Abseil before anything
initializes Abseil's logging, and such messages ignore TF_CPP_MIN_LOG_LEVEL
(abseil/abseil-cpp#1570): importing TensorFlow printed two informational
lines twice, each time under a banner, on every run.  So the import runs with
the process's stderr captured, and of what it printed, the lines the log
level filters out are dropped and the rest passed on.
"""

import os
import re
import sys
import tempfile
from contextlib import contextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# An Abseil log line starts with its severity letter and the date (MMDD).
_ABSEIL_LINE = re.compile(r"([IWEF])\d{4} ")
_ABSEIL_BANNER = "WARNING: All log messages before absl::InitializeLog() is called"
# TF_CPP_MIN_LOG_LEVEL: the severities it hides.
_HIDDEN_SEVERITIES = {"1": "I", "2": "IW", "3": "IWE"}


@contextmanager
def _native_logs_filtered():
    """Capture file descriptor 2 for the block; pass on what the log level lets through."""
    hidden = _HIDDEN_SEVERITIES.get(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip(), "")
    try:
        saved = os.dup(2) if hidden else None
    except OSError:  # no stderr to capture (closed by the process that started this one)
        saved = None
    if saved is None:
        yield
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                severity = _severity(line)
                if not (severity and severity in hidden):
                    sys.stderr.write(line)
            sys.stderr.flush()


def _severity(line):
    """"I", "W", "E" or "F" for an Abseil log line (the banner is a warning), else ""."""
    if line.startswith(_ABSEIL_BANNER):
        return "W"
    match = _ABSEIL_LINE.match(line)
    return match[1] if match else ""


# Only the import: a first look at the devices here would fix the runtime's
# configuration before a user's distribution strategy could set it.
with _native_logs_filtered():
    import keras
    import tensorflow as tf

__all__ = ["keras", "tf"]
