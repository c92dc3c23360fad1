"""The fbank a deployment runtime computes: kaldi-native-fbank, as sherpa-onnx sets it up.

sherpa-onnx turns audio into features with kaldi-native-fbank itself; a model exported from here
only works there if those features are the ones it was trained on (lhotse's ``Fbank`` with
``conf/fbank.yaml``).  :func:`knf_options` is the kaldi-native-fbank setting equivalent to a
:class:`~steps.data.features.FbankConf`, i.e. sherpa-onnx's defaults with our mel bins, frame
sizes and dither; the tests measure how far apart the two are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from steps.data.features import FbankConf


def knf_options(conf: FbankConf) -> Any:
    """A ``kaldi_native_fbank.FbankOptions`` equal to ``conf`` through lhotse."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = conf.sampling_rate
    opts.frame_opts.frame_length_ms = 1000 * conf.frame_length
    opts.frame_opts.frame_shift_ms = 1000 * conf.frame_shift
    opts.frame_opts.dither = conf.dither
    opts.frame_opts.snip_edges = False  # lhotse's and sherpa-onnx's default
    opts.frame_opts.remove_dc_offset = True
    opts.frame_opts.preemph_coeff = 0.97
    opts.frame_opts.window_type = "povey"
    opts.mel_opts.num_bins = conf.num_mel_bins
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = -400.0
    return opts


def knf_fbank(audio: np.ndarray, conf: FbankConf) -> np.ndarray:
    """(frames, bins) log-mel of float samples in [-1, 1], as sherpa-onnx computes them."""
    import kaldi_native_fbank as knf

    fbank = knf.OnlineFbank(knf_options(conf))
    fbank.accept_waveform(conf.sampling_rate, np.asarray(audio, dtype=np.float32).tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)]).astype(np.float32)
