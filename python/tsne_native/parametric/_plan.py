"""The training plan: every hardware and schedule choice of a fit, resolved once.

No TensorFlow here: the plan is made from plain facts about the machine
(:class:`Hardware`, probed by the training module) and the estimator's
checked parameters, so the rules can be read and tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

PRECISIONS = ("auto", "float32", "mixed_bfloat16")
ACTIVATIONS = ("silu", "relu")
INITS = ("random", "tsne")
NORMALIZATIONS = ("batch", "point")
# mid_near_weight > 0: each head's mid-near point is the second nearest in the
# data of this many rows drawn uniformly (PaCMAP's and ParamRepulsor's choice).
MID_NEAR_CANDIDATES = 6
# init="tsne": the regression onto the teacher's map spends about this many
# multiply-adds of forward passes (as AUTO_TRAINING_MULTIPLY_ADDS does), within
# these bounds on its epochs, in batches of this size, at this learning rate
# (Adam, decayed to zero along a cosine), on inputs blurred by Gaussian noise of
# this many median nearest-neighbour distances (spread over the inputs): without
# the noise the network learns the map's every detail at the training points
# and places new points worse.  bench/RESULTS.md holds the measurements.
TEACHER_TRAINING_MULTIPLY_ADDS = 1.9e12
TEACHER_EPOCHS = (20, 200)
TEACHER_BATCH_SIZE = 256
TEACHER_LEARNING_RATE = 1e-3
TEACHER_INPUT_NOISE = 0.5
# Tails drawn per head: more edges per embedded point (3 of every 4 points in a
# batch are tails); a head and its tails are not paired in the repulsion.
TAILS_PER_HEAD = 3
# The repulsion pairs points drawn independently of each other, so a step
# needs at least two heads, each with its tails.
MIN_BATCH_SIZE = 2 * (1 + TAILS_PER_HEAD)
# n_epochs=None: train for about this many multiply-adds of the network's
# forward passes over the sampled points (a cheaper network trains on more
# edges), the same on every machine, within these bounds on the number of
# epochs.  bench/RESULTS.md holds the measurements that chose them.
AUTO_TRAINING_MULTIPLY_ADDS = 2.8e12
AUTO_EPOCHS = (25, 1000)
# Share of the epochs with early exaggeration when the estimator does not say
# (none after a teacher's map, whose clusters have formed already).
EARLY_EXAGGERATION_SHARE = 0.1
# Steps run by one compiled call on a CPU.  Python (and so Ctrl-C) gets control
# only between calls, which should come about every half second; a GPU step is
# fast enough to run a whole epoch per call.
CPU_STEPS_PER_EXECUTION = 4
# Across several workers every call runs one step: Keras 3's loop of several
# steps per call reads a multi-worker dataset inside a conditional, which fails
# there ("You must feed a value for placeholder tensor", TensorFlow 2.21).
MULTI_WORKER_STEPS_PER_EXECUTION = 1


@dataclass(frozen=True)
class Hardware:
    """What the machine offers training.

    Attributes
    ----------
    gpu : bool
        TensorFlow sees a GPU (and so trains on it).
    cpu_bfloat16 : bool
        The CPU has bfloat16 dot products (AVX512-BF16 or AMX).
    replicas : int
        Devices the distribution strategy trains on in sync, on all workers.
    workers : int
        Machines (processes) taking part, each with its own share of the replicas.
    """

    gpu: bool
    cpu_bfloat16: bool
    replicas: int = 1
    workers: int = 1


@dataclass(frozen=True)
class TrainingPlan:
    """How a fit trains, decided before the first step.

    Attributes
    ----------
    n_epochs, early_exaggeration_epochs : int
        Epochs in all, and how many of the first ones are exaggerated.
    teacher_epochs : int
        Epochs of regression onto a teacher's map before them (0 untaught).
    precision : {"float32", "mixed_bfloat16"}
        Arithmetic of the built network's hidden layers.
    jit_compile : bool
        Compile the step with XLA (on a GPU only: on the CPU it was slower).
    heads_per_step, tails_per_head : int
        Batch geometry per replica: ``heads_per_step * (1 + tails_per_head)``
        points embedded, ``heads_per_step * tails_per_head`` edges attracted.
    steps_per_execution, steps_per_epoch : int
        Steps per compiled call, and per epoch (whole calls: a partial last
        call made Keras read past the end of the step dataset).
    replicas : int
    """

    n_epochs: int
    early_exaggeration_epochs: int
    teacher_epochs: int
    precision: str
    jit_compile: bool
    heads_per_step: int
    tails_per_head: int
    steps_per_execution: int
    steps_per_epoch: int
    replicas: int

    @property
    def n_steps(self) -> int:
        """Optimizer steps in all."""
        return self.n_epochs * self.steps_per_epoch


def make_plan(n_samples, *, batch_size, n_epochs, early_exaggeration_epochs, precision,
              hardware, multiply_adds, custom_encoder=False, taught=False) -> TrainingPlan:
    """Resolve the automatic choices of a fit on ``n_samples`` points.

    Parameters
    ----------
    n_samples : int
    batch_size : int
        Points embedded per step and replica, at least ``MIN_BATCH_SIZE``.
    n_epochs, early_exaggeration_epochs : int or None
        ``None``: the automatic training length (:func:`training_length`).
    precision : {"auto", "float32", "mixed_bfloat16"}
        ``"auto"`` is bfloat16 where the CPU multiplies it natively and no
        GPU trains; a user's own encoder trains as built (float32 here).
    hardware : Hardware
    multiply_adds : int
        Multiply-adds of the trained network's forward pass for one point.
    custom_encoder : bool
        The network is the user's, not built from ``hidden_layers``.
    taught : bool
        The network starts from a teacher's map (``init="tsne"``).
    """
    if precision == "auto":
        native = hardware.cpu_bfloat16 and not hardware.gpu and not custom_encoder
        precision = "mixed_bfloat16" if native else "float32"
    n_epochs, early_epochs = training_length(n_epochs, early_exaggeration_epochs, n_samples,
                                             multiply_adds, taught)
    heads_per_step = max(1, batch_size // (1 + TAILS_PER_HEAD))
    edges_per_step = heads_per_step * TAILS_PER_HEAD * hardware.replicas
    steps_per_epoch = max(1, -(-n_samples // edges_per_step))
    if hardware.workers > 1:
        per_call = MULTI_WORKER_STEPS_PER_EXECUTION
    else:
        per_call = steps_per_epoch if hardware.gpu else min(steps_per_epoch,
                                                            CPU_STEPS_PER_EXECUTION)
    return TrainingPlan(
        n_epochs=n_epochs, early_exaggeration_epochs=early_epochs,
        teacher_epochs=teacher_length(n_samples, multiply_adds) if taught else 0,
        precision=precision,
        jit_compile=hardware.gpu, heads_per_step=heads_per_step, tails_per_head=TAILS_PER_HEAD,
        steps_per_execution=per_call, steps_per_epoch=-(-steps_per_epoch // per_call) * per_call,
        replicas=hardware.replicas)


def training_length(n_epochs, early_exaggeration_epochs, n_samples, multiply_adds,
                    taught=False):
    """(epochs, exaggerated epochs), with ``None`` resolved to the automatic choices.

    The automatic length spends ``AUTO_TRAINING_MULTIPLY_ADDS`` on forward
    passes (an epoch embeds ``n_samples`` edges' heads and tails, each point
    costing ``multiply_adds``), within ``AUTO_EPOCHS`` epochs; the
    exaggeration lasts ``EARLY_EXAGGERATION_SHARE`` of them (at least one),
    or none when the network was ``taught`` a map first.
    """
    if n_epochs is None:
        epoch_cost = n_samples * (1 + 1 / TAILS_PER_HEAD) * max(1, multiply_adds)
        n_epochs = int(np.clip(np.ceil(AUTO_TRAINING_MULTIPLY_ADDS / epoch_cost), *AUTO_EPOCHS))
    if early_exaggeration_epochs is None:
        early_exaggeration_epochs = (0 if taught else
                                     max(1, int(n_epochs * EARLY_EXAGGERATION_SHARE)))
    return n_epochs, early_exaggeration_epochs


def teacher_length(n_samples, multiply_adds):
    """Epochs of regression onto a teacher's map: ``TEACHER_TRAINING_MULTIPLY_ADDS``
    spent on forward passes of ``n_samples`` points, within ``TEACHER_EPOCHS``."""
    epoch_cost = n_samples * max(1, multiply_adds)
    return int(np.clip(np.ceil(TEACHER_TRAINING_MULTIPLY_ADDS / epoch_cost), *TEACHER_EPOCHS))


def dense_multiply_adds(n_inputs, hidden_layers, n_components):
    """Multiply-adds of one point's forward pass through the built dense layers."""
    widths = [n_inputs, *hidden_layers, n_components]
    return sum(a * b for a, b in pairwise(widths))


def cpu_multiplies_bfloat16(cpuinfo_path="/proc/cpuinfo") -> bool:
    """Whether the CPU has bfloat16 dot products (AVX512-BF16 or AMX).

    Those CPUs multiply bfloat16 about twice as fast as float32; elsewhere
    bfloat16 is emulated and slower.  The flags are read from Linux's
    ``/proc/cpuinfo``; without it the answer is ``False``.
    """
    try:
        with open(cpuinfo_path) as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo
                          if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
