"""The training plan's rules: training length, batch geometry, hardware choices."""

import math

import pytest

from tsne_native.parametric._plan import (
    AUTO_EPOCHS,
    AUTO_TRAINING_MULTIPLY_ADDS,
    EARLY_EXAGGERATION_SHARE,
    MIN_BATCH_SIZE,
    TAILS_PER_HEAD,
    TEACHER_EPOCHS,
    TEACHER_TRAINING_MULTIPLY_ADDS,
    Hardware,
    cpu_multiplies_bfloat16,
    dense_multiply_adds,
    make_plan,
    teacher_length,
    training_length,
)

# The default network's forward pass: 100 principal components, three 256-wide layers, 2-D.
MACS = 100 * 256 + 2 * 256 * 256 + 256 * 2


def test_multiply_adds_of_the_built_dense_layers():
    assert dense_multiply_adds(100, (256, 256, 256), 2) == MACS
    assert dense_multiply_adds(5, (), 3) == 15


@pytest.mark.parametrize("n_samples", [20_000, 60_000, 200_000])
def test_automatic_training_length_is_a_budget_of_multiply_adds(n_samples):
    epochs, early = training_length(None, None, n_samples, MACS)
    points = n_samples * (1 + 1 / TAILS_PER_HEAD)
    assert epochs == math.ceil(AUTO_TRAINING_MULTIPLY_ADDS / (points * MACS))
    assert early == max(1, int(epochs * EARLY_EXAGGERATION_SHARE))
    # A network four times as costly trains on about a quarter of the edges.
    costly, _ = training_length(None, None, n_samples, 4 * MACS)
    assert costly == max(AUTO_EPOCHS[0],
                         math.ceil(AUTO_TRAINING_MULTIPLY_ADDS / (points * 4 * MACS)))
    assert costly < epochs


def test_automatic_training_length_stays_within_its_bounds():
    assert training_length(None, None, 10_000_000, MACS)[0] == AUTO_EPOCHS[0]
    assert training_length(None, None, 500, MACS)[0] == AUTO_EPOCHS[1]


def test_given_training_length_is_kept():
    assert training_length(7, 0, 60_000, MACS) == (7, 0)


def test_a_taught_network_trains_without_early_exaggeration():
    epochs, early = training_length(None, None, 60_000, MACS, taught=True)
    assert early == 0 and epochs == training_length(None, None, 60_000, MACS)[0]
    assert training_length(50, 3, 60_000, MACS, taught=True) == (50, 3)  # as the user says


def test_the_teachers_regression_is_a_budget_of_multiply_adds():
    assert teacher_length(100_000, MACS) == math.ceil(TEACHER_TRAINING_MULTIPLY_ADDS
                                                      / (100_000 * MACS))
    assert teacher_length(100_000, 4 * MACS) < teacher_length(100_000, MACS)
    assert teacher_length(10_000_000, MACS) == TEACHER_EPOCHS[0]
    assert teacher_length(100, MACS) == TEACHER_EPOCHS[1]


def test_only_a_taught_network_plans_a_regression():
    common = dict(batch_size=1024, n_epochs=10, early_exaggeration_epochs=None,
                  precision="float32", hardware=Hardware(gpu=False, cpu_bfloat16=False),
                  multiply_adds=MACS)
    assert make_plan(20_000, **common).teacher_epochs == 0
    assert make_plan(20_000, taught=True, **common).teacher_epochs == teacher_length(20_000,
                                                                                     MACS)


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse avx2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu sse avx2 amx_bf16 amx_tile", True),
    ("fpu sse avx2 avx512f avx512_vnni", False),
])
def test_native_bfloat16_reads_the_cpu_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\n")
    assert cpu_multiplies_bfloat16(cpuinfo) is expected


def test_native_bfloat16_without_cpuinfo_is_false(tmp_path):
    assert cpu_multiplies_bfloat16(tmp_path / "missing") is False


def test_the_minimum_batch_holds_two_heads_with_their_tails():
    assert MIN_BATCH_SIZE == 2 * (1 + TAILS_PER_HEAD)
    plan = make_plan(1000, batch_size=MIN_BATCH_SIZE, n_epochs=1, early_exaggeration_epochs=0,
                     precision="float32", hardware=Hardware(gpu=False, cpu_bfloat16=False),
                     multiply_adds=MACS)
    assert plan.heads_per_step == 2 and plan.tails_per_head == TAILS_PER_HEAD


@pytest.mark.parametrize("gpu, steps_per_execution", [(False, 4), (True, 42)])
def test_an_epoch_is_whole_compiled_calls(gpu, steps_per_execution):
    # 2,000 points, 16 heads x 3 tails = 48 edges a step: 42 steps an epoch.
    plan = make_plan(2000, batch_size=64, n_epochs=3, early_exaggeration_epochs=1,
                     precision="float32", hardware=Hardware(gpu=gpu, cpu_bfloat16=False),
                     multiply_adds=MACS)
    assert plan.steps_per_execution == steps_per_execution
    assert plan.steps_per_epoch % plan.steps_per_execution == 0
    assert 42 <= plan.steps_per_epoch < 42 + steps_per_execution
    assert plan.n_steps == 3 * plan.steps_per_epoch and plan.jit_compile is gpu


def test_replicas_share_an_epoch():
    one = make_plan(2000, batch_size=64, n_epochs=1, early_exaggeration_epochs=0,
                    precision="float32", hardware=Hardware(gpu=True, cpu_bfloat16=False),
                    multiply_adds=MACS)
    two = make_plan(2000, batch_size=64, n_epochs=1, early_exaggeration_epochs=0,
                    precision="float32",
                    hardware=Hardware(gpu=True, cpu_bfloat16=False, replicas=2),
                    multiply_adds=MACS)
    assert two.steps_per_epoch == -(-one.steps_per_epoch // 2) and two.replicas == 2


@pytest.mark.parametrize("gpu", [False, True])
def test_several_workers_run_one_step_per_call(gpu):
    """Keras 3 fails to run several steps per call on a multi-worker dataset."""
    plan = make_plan(2000, batch_size=64, n_epochs=2, early_exaggeration_epochs=0,
                     precision="float32",
                     hardware=Hardware(gpu=gpu, cpu_bfloat16=False, replicas=2, workers=2),
                     multiply_adds=MACS)
    assert plan.steps_per_execution == 1
    assert plan.steps_per_epoch == 21 and plan.n_steps == 42  # 2,000 points / (2 x 48 edges)
    assert plan.jit_compile is gpu


@pytest.mark.parametrize("gpu, cpu_bfloat16, custom_encoder, expected", [
    (False, True, False, "mixed_bfloat16"),
    (False, False, False, "float32"),
    (True, True, False, "float32"),     # the GPU trains, whatever the CPU has
    (False, True, True, "float32"),     # the user's network trains as built
])
def test_automatic_precision(gpu, cpu_bfloat16, custom_encoder, expected):
    plan = make_plan(1000, batch_size=256, n_epochs=None, early_exaggeration_epochs=None,
                     precision="auto", hardware=Hardware(gpu=gpu, cpu_bfloat16=cpu_bfloat16),
                     multiply_adds=MACS, custom_encoder=custom_encoder)
    assert plan.precision == expected
