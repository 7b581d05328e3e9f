"""Seeded synthetic datasets: a sequence task (for RNN trees) and a multi-task generator.

Both are generated in numpy from a seed, so the same arguments give the same arrays on
every machine, and nothing is downloaded. They return raw (unstandardized) arrays;
`forest.datasets.load_dataset` splits and standardizes them like the scikit-learn sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from forest.errors import ForestError

MAX_TASKS = 100_000


@dataclass(frozen=True)
class RawData:
    """Unsplit arrays: x (n, n_features) float64, y (n,) int64, task (n,) int64 or None.

    `input_shape` is how one row of x is read by the trees: (n_features,) for tabular data,
    (length, channels) for sequences, channel-last (row-major flattening of x).
    """

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    task: npt.NDArray[np.int64] | None
    input_shape: tuple[int, ...]
    n_classes: int
    n_tasks: int


def make_sequence(n_samples: int = 1600, length: int = 16, channels: int = 3,
                  n_classes: int = 4, noise: float = 0.8, seed: int = 0) -> RawData:
    """Classify which oscillator produced a noisy multichannel sequence.

    Class c drives each channel with a sinusoid of its own frequency (cycles per step, drawn
    once per class) at a random phase per sample and channel, plus Gaussian noise of standard
    deviation `noise`. The phase is random, so a class is recognised by how the signal evolves
    over time, not by the value at any fixed step: a task for a recurrent tree.
    Shapes: x (n_samples, length * channels), input_shape (length, channels).
    """
    if min(n_samples, length, channels) < 1 or n_classes < 2 or noise < 0:
        raise ForestError(
            f"make_sequence: n_samples={n_samples}, length={length}, channels={channels} must "
            f"be >= 1, n_classes={n_classes} >= 2 and noise={noise} >= 0"
        )
    rng = np.random.default_rng(seed)
    # Frequencies spread over (0.04, 0.4) cycles/step, shuffled so classes differ per channel.
    freqs = np.stack([rng.permutation(np.linspace(0.04, 0.4, n_classes))
                      for _ in range(channels)], axis=1)  # (n_classes, channels)
    y = rng.integers(0, n_classes, size=n_samples).astype(np.int64)
    phase = rng.uniform(0, 2 * np.pi, size=(n_samples, 1, channels))
    t = np.arange(length, dtype=np.float64)[None, :, None]
    x = np.sin(2 * np.pi * freqs[y][:, None, :] * t + phase)
    x += rng.normal(0.0, noise, size=x.shape)
    return RawData(x.reshape(n_samples, length * channels), y, None, (length, channels),
                   n_classes, 0)


def make_multitask(n_tasks: int = 16, samples_per_task: int = 64, code_dim: int = 16,
                   payload_dim: int = 6, n_classes: int = 3, code_noise: float = 0.1,
                   seed: int = 0) -> RawData:
    """Many small classification tasks in one input space, from a handful to 10,000 tasks.

    Task t has a random code vector c_t ~ N(0, I) (code_dim) and a random linear rule
    A_t (n_classes, payload_dim). A sample of task t is x = [c_t + code_noise * N(0, I);
    p] with payload p ~ N(0, I), and its label is argmax(A_t p). The code says which task
    a sample belongs to (a router can learn it); the rule differs per task, so one small
    network must learn all rules at once while a tree per task learns one.
    Rows are grouped by task (samples_per_task consecutive rows each); `task` holds task ids.
    Generation is vectorized: 10,000 tasks take well under a second.
    """
    if not 1 <= n_tasks <= MAX_TASKS:
        raise ForestError(f"make_multitask: n_tasks = {n_tasks} must be in 1 .. {MAX_TASKS}")
    if samples_per_task < 2 or min(code_dim, payload_dim) < 1 or n_classes < 2:
        raise ForestError(
            f"make_multitask: samples_per_task={samples_per_task} must be >= 2, "
            f"code_dim={code_dim} and payload_dim={payload_dim} >= 1, n_classes={n_classes} >= 2"
        )
    rng = np.random.default_rng(seed)
    codes = rng.normal(size=(n_tasks, code_dim))
    rules = rng.normal(size=(n_tasks, n_classes, payload_dim))
    task = np.repeat(np.arange(n_tasks, dtype=np.int64), samples_per_task)
    payload = rng.normal(size=(len(task), payload_dim))
    code = codes[task] + code_noise * rng.normal(size=(len(task), code_dim))
    y = np.einsum("ncp,np->nc", rules[task], payload).argmax(axis=1).astype(np.int64)
    x = np.concatenate([code, payload], axis=1)
    return RawData(x, y, task, (code_dim + payload_dim,), n_classes, n_tasks)


SEQ_FAMILIES: tuple[str, ...] = ("motif", "order", "position")
"""Rule families of `make_multitask_seq`; task t follows family t % 3 (see there)."""
RULE_STEPS = 2
"""Steps a `position` rule of `make_multitask_seq` reads."""


def make_multitask_seq(n_tasks: int = 96, samples_per_task: int = 256, length: int = 12,
                       channels: int = 4, code_steps: int = 2, n_classes: int = 3,
                       noise: float = 0.3, code_noise: float = 0.1,
                       seed: int = 0) -> RawData:
    """Many small sequence tasks whose rules are local, ordered or positional patterns.

    A row is a channel-last sequence (code_steps + length, channels). Its first `code_steps`
    steps carry the task's code (c_t ~ N(0, I) of code_steps * channels values, plus
    `code_noise` Gaussian noise), so a router can tell tasks apart from the raw row; the
    next `length` steps are Gaussian noise of standard deviation `noise` plus the sample's
    pattern. Task t follows rule family `SEQ_FAMILIES[t % 3]`:

    - motif: class c is a task-specific 3-step motif (random, amplitude 1.5) added at a random
      position: translation-invariant and local, what a convolution with a shared kernel
      reads (a CNN tree);
    - order: 2 or 3 events, each a task-specific spike (one per class, a random direction in
      channel space, amplitude 3) at random distinct steps; the class is the type of the
      last event: order matters and positions do not (a recurrent tree);
    - position: the class is argmax(A_t s) of the whole signal s (length * channels values,
      rule A_t random and fixed per task, reading `RULE_STEPS` task-specific steps) with no
      pattern added: every step has its own weight (a dense tree, or a CNN's dense head).

    Rows are grouped by task (samples_per_task consecutive rows each); `task` holds task ids.
    Shapes: x (n_tasks * samples_per_task, (code_steps + length) * channels), input_shape
    (code_steps + length, channels).
    """
    if not 1 <= n_tasks <= MAX_TASKS:
        raise ForestError(f"make_multitask_seq: n_tasks = {n_tasks} must be in 1 .. {MAX_TASKS}")
    if samples_per_task < 2 or length < 4 or min(channels, code_steps) < 1 or n_classes < 2 \
            or min(noise, code_noise) < 0:
        raise ForestError(
            f"make_multitask_seq: samples_per_task={samples_per_task} must be >= 2, "
            f"length={length} >= 4, channels={channels} and code_steps={code_steps} >= 1, "
            f"n_classes={n_classes} >= 2, noise={noise} and code_noise={code_noise} >= 0")
    rng = np.random.default_rng(seed)
    n = n_tasks * samples_per_task
    task = np.repeat(np.arange(n_tasks, dtype=np.int64), samples_per_task)
    family = task % len(SEQ_FAMILIES)
    codes = rng.normal(size=(n_tasks, code_steps, channels))
    code = codes[task] + code_noise * rng.normal(size=(n, code_steps, channels))
    signal = noise * rng.normal(size=(n, length, channels))
    y = rng.integers(0, n_classes, size=n).astype(np.int64)
    rows = np.arange(n)

    # motif: one 3-step pattern per (task, class) at a random position.
    motifs = 1.5 * rng.normal(size=(n_tasks, n_classes, 3, channels)) / np.sqrt(channels)
    start = rng.integers(0, length - 2, size=n)
    m = family == 0
    for step in range(3):
        signal[rows[m], start[m] + step] += motifs[task[m], y[m], step]

    # order: events at distinct random steps; the last one's type is the label.
    spikes = rng.normal(size=(n_tasks, n_classes, channels))
    spikes *= 3.0 / np.linalg.norm(spikes, axis=2, keepdims=True)
    steps = np.sort(rng.random((n, length)).argsort(axis=1)[:, :3], axis=1)
    n_events = rng.integers(2, 4, size=n)
    types = rng.integers(0, n_classes, size=(n, 3))
    types[rows, n_events - 1] = y
    o = family == 1
    for j in range(3):
        on = o & (j < n_events)
        signal[rows[on], steps[on, j]] += spikes[task[on], types[on, j]]

    # position: a fixed linear rule on the whole signal.
    rules = rng.normal(size=(n_tasks, n_classes, length, channels))
    # Each rule reads `RULE_STEPS` task-specific steps; the others weigh zero.
    keep = rng.random((n_tasks, length)).argsort(axis=1)[:, :RULE_STEPS]
    mask = np.zeros((n_tasks, length), dtype=bool)
    mask[np.arange(n_tasks)[:, None], keep] = True
    rules = (rules * mask[:, None, :, None]).reshape(n_tasks, n_classes, length * channels)
    p = family == 2
    flat = signal[p].reshape(int(p.sum()), length * channels)
    y[p] = np.einsum("ncf,nf->nc", rules[task[p]], flat).argmax(axis=1)

    x = np.concatenate([code, signal], axis=1).reshape(n, -1)
    return RawData(x, y, task, (code_steps + length, channels), n_classes, n_tasks)
