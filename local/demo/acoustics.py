"""Signal processing that turns clean espeak output into varied, noisy 16 kHz speech.

Speaker timbre (vocal-tract length, spectral tilt, a fixed resonance) makes voices separable
for speaker verification; noise and reverberation make some conditions harder than others.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy import fft as sfft
from scipy import signal

NOISE_KINDS = ("white", "pink", "brown", "hum", "babble")


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    g = gcd(sr_in, sr_out)
    return signal.resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)


def vtlp_resample(x: np.ndarray, sr_in: int, sr_out: int, factor: float) -> np.ndarray:
    """Resample as if recorded at ``sr_in * factor``: shifts formants and pitch by ``factor``."""
    fake_sr = int(round(sr_in * factor / 50.0)) * 50
    return resample(x, fake_sr, sr_out)


def apply_timbre(
    x: np.ndarray, sr: int, tilt: float, formant_hz: float, formant_db: float
) -> np.ndarray:
    """A first-order tilt and one peaking resonance: a fixed per-speaker colouring."""
    y = signal.lfilter([1.0, -tilt], [1.0], x)
    # peaking EQ biquad (RBJ cookbook form), Q = 2
    a_gain = 10 ** (formant_db / 40.0)
    w0 = 2 * np.pi * formant_hz / sr
    alpha = np.sin(w0) / (2 * 2.0)
    b = [1 + alpha * a_gain, -2 * np.cos(w0), 1 - alpha * a_gain]
    a = [1 + alpha / a_gain, -2 * np.cos(w0), 1 - alpha / a_gain]
    return signal.lfilter(b, a, y).astype(np.float32)


def trim_silence(
    x: np.ndarray, sr: int, margin_s: float = 0.15, thresh: float = 1e-3
) -> np.ndarray:
    """Drop espeak's long leading/trailing silence but keep a natural margin."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak == 0.0:
        return x
    active = np.flatnonzero(np.abs(x) > thresh * peak)
    m = int(margin_s * sr)
    return x[max(0, active[0] - m) : min(len(x), active[-1] + m)]


def _shaped_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (FFT at a fast length, then cut)."""
    m = sfft.next_fast_len(n, real=True)
    spec = sfft.rfft(rng.standard_normal(m))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec *= f ** (-exponent / 2.0)
    return sfft.irfft(spec, m)[:n]


def make_noise(rng: np.random.Generator, n: int, kind: str, sr: int) -> np.ndarray:
    if kind == "white":
        y = rng.standard_normal(n)
    elif kind == "pink":
        y = _shaped_noise(rng, n, 1.0)
    elif kind == "brown":
        y = _shaped_noise(rng, n, 2.0)
    elif kind == "hum":
        t = np.arange(n) / sr
        base = rng.choice([50.0, 60.0])
        y = sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8))
        y = y + 0.1 * rng.standard_normal(n)
    elif kind == "babble":
        # speech-shaped noise with a syllable-rate (~4 Hz) envelope
        y = _shaped_noise(rng, n, 1.0)
        y = signal.lfilter(*signal.butter(2, [200 / (sr / 2), 3500 / (sr / 2)], "band"), y)
        env = _shaped_noise(rng, n, 2.0)
        env = np.abs(env) / (np.abs(env).mean() + 1e-9)
        y = y * np.clip(env, 0.2, 3.0)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; known: {', '.join(NOISE_KINDS)}")
    return np.asarray(y, dtype=np.float64)


def make_rir(rng: np.random.Generator, sr: int, rt60: float) -> np.ndarray:
    """A synthetic room impulse response: direct path, then exponentially decaying noise."""
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    tail[: int(0.003 * sr)] = 0.0  # a few ms before the first reflections
    rir = 0.4 * tail / (np.sqrt(np.sum(tail**2)) + 1e-9)
    rir[0] = 1.0
    return rir


def add_reverb(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    y = signal.fftconvolve(x, rir)[: len(x)]
    return y * (np.sqrt(np.mean(x**2)) / (np.sqrt(np.mean(y**2)) + 1e-9))


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    px = np.mean(x**2)
    pn = np.mean(noise**2) + 1e-12
    return x + noise * np.sqrt(px / (pn * 10 ** (snr_db / 10.0)))


def to_int16(x: np.ndarray, peak: float = 0.7) -> np.ndarray:
    """Normalise to a fixed peak (no clipping) and quantise."""
    m = float(np.max(np.abs(x))) if len(x) else 0.0
    y = x * (peak / m) if m > 0 else x
    return np.round(y * 32767).astype(np.int16)
