"""A thin ctypes driver for the espeak-ng library shipped in the ``espeakng-loader`` wheel.

espeak-ng keeps internal state between calls, so identical output needs a fresh process and a
fixed order of calls: callers synthesise each shard in its own worker process.
"""

from __future__ import annotations

import ctypes

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
CHARS_UTF8 = 1
RATE, VOLUME, PITCH, RANGE = 1, 2, 3, 4

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class Espeak:
    """Synthesise text to int16 samples at the library's native rate (22,050 Hz)."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = int(self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0))
        if self.sample_rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")
        self._chunks: list[np.ndarray] = []

        def collect(wav, n, _events):  # noqa: ANN001 - ctypes signature
            if n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._cb = _CALLBACK(collect)  # keep a reference: the library calls it later
        self._lib.espeak_SetSynthCallback(self._cb)

    def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        self._lib.espeak_SetParameter(RATE, int(rate), 0)
        self._lib.espeak_SetParameter(PITCH, int(pitch), 0)
        self._lib.espeak_SetParameter(RANGE, int(pitch_range), 0)
        self._lib.espeak_SetParameter(VOLUME, 100, 0)
        self._chunks.clear()
        data = text.encode("utf-8")
        self._lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._chunks)
