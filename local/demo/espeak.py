"""A thin ctypes driver for the espeak-ng library shipped in the ``espeakng-loader`` wheel.

espeak-ng keeps internal state between calls, so identical output needs a fresh process and a
fixed order of calls: callers synthesise each shard in its own worker process.  Converting
text to phonemes (``Espeak.phonemes``) does not change what later ``synth`` calls produce
(checked: the same samples with and without conversions in between), but callers still make
every call in a fixed order.
"""

from __future__ import annotations

import ctypes

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
CHARS_UTF8 = 1
PHONEMES = 0x100  # espeakPHONEMES: text may hold [[phoneme mnemonics]]
PHONEME_MNEMONICS = 0  # espeak_TextToPhonemes phonememode: espeak-ng's own names, not IPA
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
        self._lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_int,
            ctypes.c_int,
        ]

    def _voice(self, voice: str) -> None:
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")

    def phonemes(self, text: str, voice: str) -> str:
        """``text`` as ``voice``'s language pronounces it, in espeak-ng phoneme mnemonics
        (e.g. ``D@2 w'ED3r- In si:;'at#@L`` for "the weather in seattle" with en-us).

        The library converts one clause per call and advances the text pointer; clauses are
        joined with a space (the demo grammar has no punctuation, so there is one clause).
        """
        self._voice(voice)
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        clauses = []
        while ptr.value:
            before = ptr.value
            out = self._lib.espeak_TextToPhonemes(ctypes.byref(ptr), CHARS_UTF8, PHONEME_MNEMONICS)
            if out:
                clauses.append(out.decode("utf-8").strip())
            if ptr.value == before:  # no progress: never loop forever
                break
        return " ".join(c for c in clauses if c)

    def synth(
        self, text: str, voice: str, rate: int, pitch: int, pitch_range: int, phonemes: bool = False
    ) -> np.ndarray:
        """Speak ``text`` (or, with ``phonemes``, a string of phoneme mnemonics)."""
        self._voice(voice)
        self._lib.espeak_SetParameter(RATE, int(rate), 0)
        self._lib.espeak_SetParameter(PITCH, int(pitch), 0)
        self._lib.espeak_SetParameter(RANGE, int(pitch_range), 0)
        self._lib.espeak_SetParameter(VOLUME, 100, 0)
        self._chunks.clear()
        flags = CHARS_UTF8
        if phonemes:
            text, flags = f"[[{text}]]", CHARS_UTF8 | PHONEMES
        data = text.encode("utf-8")
        self._lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, flags, None, None)
        self._lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._chunks)
