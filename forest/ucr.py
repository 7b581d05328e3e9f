"""Real sequence workloads: UCR/UEA time-series sets that ship inside sktime.

sktime (`sktime>=1.2,<2` on PyPI) bundles a few UCR/UEA archive sets as `.ts` files in its
own package folder (`sktime/datasets/data/`), and its loaders read them from there: nothing
is downloaded. (aeon bundles the same sets, but aeon 1.6 needs numba 0.63, which needs
numpy < 2.4; sktime installs beside our numpy.) The archive's own train and test parts are
joined here and split again by `forest.datasets.load_dataset` like every other set.

- `basic_motions`: BasicMotions, accelerometer and gyroscope while walking, resting, running
  or playing badminton: 80 rows, 4 classes, 100 steps x 6 channels;
- `japanese_vowels`: JapaneseVowels, 12 LPC cepstrum coefficients of nine speakers saying
  "ae" (the speaker is the class): 640 rows, 9 classes, 29 steps x 12 channels.

JapaneseVowels' utterances last 7 to 29 frames; each is padded with zeros after its end to
29, the longest. Rows are channel-last (steps, channels), as CNN and RNN trees read them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from forest.synthetic import RawData

UCR_SETS: dict[str, str] = {
    "basic_motions": "load_basic_motions",
    "japanese_vowels": "load_japanese_vowels",
}
"""Our name -> the sktime loader of the bundled set."""


def load_ucr(name: str) -> RawData:
    """The bundled UCR/UEA set `name` (a key of `UCR_SETS`), unsplit, channel-last."""
    # sktime is imported on use: it takes seconds to import and only these sets need it.
    from sktime import datasets as skt

    frame, labels = getattr(skt, UCR_SETS[name])(return_type="nested_univ")
    series = [[np.asarray(frame.iloc[i, c], dtype=np.float64) for c in range(frame.shape[1])]
              for i in range(len(frame))]
    x = _pad_channel_last(series)
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    n, steps, channels = x.shape
    return RawData(x.reshape(n, steps * channels), y.astype(np.int64), None,
                   (steps, channels), len(classes), 0)


def _pad_channel_last(series: list[list[npt.NDArray[np.float64]]]) -> npt.NDArray[np.float64]:
    """(rows, steps, channels) from per-row lists of per-channel series, zero-padded at the
    end to the longest series."""
    steps = max(len(s) for row in series for s in row)
    out = np.zeros((len(series), steps, len(series[0])))
    for i, row in enumerate(series):
        for c, s in enumerate(row):
            out[i, :len(s), c] = s
    return out
