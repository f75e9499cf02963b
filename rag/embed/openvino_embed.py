"""The openvino backend: the model converted once and run by OpenVINO on the CPU.

Tokenizing, batching and pooling are the onnx backend's (rag.embed.onnx.ExportedEmbedder);
the conversion is rag.embed.openvino_export. At int8 the matrix products run in int8 with
ranges calibrated once (static quantisation), and where the CPU computes bfloat16
(AVX512_BF16 or AMX) the rest runs in bfloat16; elsewhere in fp32. `quantize = "none"` runs
every operation in fp32. Speed and quality against the onnx backend: README, "Performance".

Example:
    >>> from rag.config import EmbedderConfig
    >>> embedder = OpenVinoEmbedder(EmbedderConfig(backend="openvino"))
    >>> embedder.embed_query("how many days of leave?").shape  # doctest: +SKIP
    (384,)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from rag.embed.model_files import ModelLayout
from rag.embed.onnx import ExportedEmbedder, Runtime
from rag.embed.openvino_export import converted_model
from rag.errors import ModelUnavailableError

__all__ = ["OpenVinoEmbedder"]

logger = logging.getLogger(__name__)


class OpenVinoEmbedder(ExportedEmbedder):
    """Embeds with OpenVINO on the CPU."""

    # OpenVINO keeps compiled kernels per input shape: lengths padded to a multiple of 8
    # keep the shapes few. 2050 SciFact chunks in slices of 256, int8, 2 cores: batches of
    # 16 unpadded 19.4-20.2 s, 876 MB peak; padded to 8: 17.1-17.9 s, 470 MB (to 16: 18.3 s,
    # 410 MB); batches of 8 or 32 no faster. ONNX Runtime (onnx-int8): 25.5-26.4 s, 280 MB.
    max_batch = 16
    pad_to = 8

    def _open(self, layout: ModelLayout, sha256: str, cache: Path) -> Runtime:
        precision = self._config.precision
        file = converted_model(layout, sha256, precision, cache)
        import openvino as ov

        core = ov.Core()
        float_type = "f32"
        if precision == "int8" and "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            float_type = "bf16"
        settings = {
            "INFERENCE_NUM_THREADS": self._threads(),
            "INFERENCE_PRECISION_HINT": float_type,
            "PERFORMANCE_HINT": "LATENCY",
        }
        try:
            compiled = core.compile_model(str(file), "CPU", settings)
        except RuntimeError as exc:
            raise ModelUnavailableError(
                f"cannot load the converted model {file.parent} ({exc}); remove the folder to "
                "convert again"
            ) from exc
        request = compiled.create_infer_request()
        output = compiled.output(0)

        def infer(feed: dict[str, np.ndarray]) -> np.ndarray:
            return np.asarray(request.infer(feed)[output])

        inputs = frozenset(port.get_any_name() for port in compiled.inputs)
        backend = "openvino-int8" if precision == "int8" else "openvino"
        logger.info(
            "OpenVINO on the CPU: %s, %s threads", float_type, settings["INFERENCE_NUM_THREADS"]
        )
        return Runtime(infer, inputs, backend, file.parent)
