"""``--distribute``: the distribution strategy of a training run, and the chief of a cluster.

``--distribute multi-worker`` trains one network on several machines with
``tf.distribute.MultiWorkerMirroredStrategy``: each machine runs the same
command with its own ``TF_CONFIG`` environment variable, which names the
cluster's machines and this machine's task.  :func:`cluster_task` reads and
checks it without TensorFlow (bad input ends the command before any work);
only the chief writes the log directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

DISTRIBUTE_CHOICES = ("none", "mirrored", "multi-worker")
TF_CONFIG = "TF_CONFIG"
# The jobs MultiWorkerMirroredStrategy trains with (an "evaluator" does not train).
TRAINING_JOBS = ("chief", "worker")
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


@dataclass(frozen=True)
class Task:
    """This machine's place in the cluster of ``TF_CONFIG``.

    Attributes
    ----------
    type : {"chief", "worker"}
    index : int
        Position in its job's list of addresses.
    n_workers : int
        Training tasks in the cluster: the chief (if any) and the workers.
    has_chief_job : bool
        The cluster names a ``"chief"`` task.
    """

    type: str
    index: int
    n_workers: int
    has_chief_job: bool

    @property
    def is_chief(self) -> bool:
        """The task that writes: the ``"chief"``, or worker 0 when the cluster has no chief."""
        return self.type == "chief" or (not self.has_chief_job and self.index == 0)

    def __str__(self) -> str:
        return f"{self.type} {self.index} of a cluster of {self.n_workers}"


def cluster_task(environ=None) -> Task:
    """This machine's :class:`Task`, from the ``TF_CONFIG`` environment variable.

    Parameters
    ----------
    environ : mapping, optional
        The environment (default: ``os.environ``).

    Raises
    ------
    ValueError
        When ``TF_CONFIG`` is missing, not JSON, or does not describe a
        cluster of chief and worker tasks with this machine's task among them.
    """
    environ = os.environ if environ is None else environ
    text = environ.get(TF_CONFIG, "").strip()
    if not text:
        raise ValueError(f"--distribute multi-worker needs the {TF_CONFIG} environment "
                         f"variable, e.g. {TF_CONFIG}='{TF_CONFIG_EXAMPLE}'")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{TF_CONFIG} is not JSON ({err})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{TF_CONFIG} must be a JSON object like {TF_CONFIG_EXAMPLE}")
    cluster = _checked_cluster(config.get("cluster"))
    task_type, index = _checked_task(config.get("task"), cluster)
    return Task(task_type, index, n_workers=sum(map(len, cluster.values())),
                has_chief_job="chief" in cluster)


def _checked_cluster(cluster) -> dict:
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"{TF_CONFIG} needs a \"cluster\" object mapping jobs to "
                         f"addresses, e.g. {TF_CONFIG_EXAMPLE}")
    for job, addresses in cluster.items():
        if job not in TRAINING_JOBS:
            raise ValueError(f"{TF_CONFIG}: the cluster's job {job!r} is not one of "
                             f"{', '.join(TRAINING_JOBS)} (MultiWorkerMirroredStrategy)")
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(address, str) and ":" in address
                           for address in addresses)):
            raise ValueError(f"{TF_CONFIG}: the cluster's {job!r} must be a list of "
                             f"\"host:port\" addresses; got {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise ValueError(f"{TF_CONFIG}: a cluster has at most one chief; got "
                         f"{len(cluster['chief'])}")
    return cluster


def _checked_task(task, cluster) -> tuple[str, int]:
    if not isinstance(task, dict):
        raise ValueError(f"{TF_CONFIG} needs a \"task\" object naming this machine, e.g. "
                         '{"type": "worker", "index": 0}')
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in cluster:
        raise ValueError(f"{TF_CONFIG}: the task's type {task_type!r} is not a job of the "
                         f"cluster ({', '.join(cluster)})")
    if not isinstance(index, int) or isinstance(index, bool) \
            or not 0 <= index < len(cluster[task_type]):
        raise ValueError(f"{TF_CONFIG}: the task's index {index!r} is not a position in the "
                         f"cluster's {task_type!r} list (0 to {len(cluster[task_type]) - 1})")
    return task_type, index


def make_strategy(name):
    """The ``tf.distribute.Strategy`` of ``--distribute name``; ``None`` for ``"none"``.

    Call it before anything else runs in TensorFlow: a
    ``MultiWorkerMirroredStrategy`` configures the process's collective
    operations, which TensorFlow allows only at its start.

    Raises
    ------
    ValueError
        When TensorFlow already ran in this process (multi-worker only).
    """
    if name in (None, "none"):
        return None
    from .._tensorflow import tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as err:  # "Collective ops must be configured at program startup"
        raise ValueError(f"--distribute multi-worker: {err}") from None
