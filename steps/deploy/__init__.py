"""Taking a trained transducer to deployment runtimes: ONNX export, onnxruntime decoding."""
