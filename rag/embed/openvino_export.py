"""Converting a model for the openvino backend once, from its own weights.

The transformer is exported to plain ONNX (rag.embed.onnx_export), read by OpenVINO and, for
int8, quantised statically by NNCF (its transformer preset: the matrix products run in int8
with activation ranges measured once on rag.embed.calibration's texts, never the user's).
The folder (model.xml, model.bin) is kept in the cache under the model's hash, the
precision, this recipe's version and the calibration's hash; it appears whole or not at all.
NNCF (and torch, for the export) are imported here only, the first time a model is used.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed import calibration
from rag.embed.model_files import ModelLayout, fast_tokenizer
from rag.embed.onnx import model_feed
from rag.embed.onnx_export import build_once, export_plain
from rag.errors import ModelUnavailableError

__all__ = ["RECIPE", "converted_model"]

logger = logging.getLogger(__name__)

RECIPE = 1  # change it when the conversion changes, so old folders are not reused


def converted_model(layout: ModelLayout, sha256: str, precision: str, cache_dir: Path) -> Path:
    """model.xml of the model with hash `sha256` at `precision` (int8 or none), converted now
    if the cache does not hold it yet.

    Raises:
        ModelUnavailableError: The cache folder cannot be written, or the conversion fails.
    """
    name = f"{sha256[:32]}-openvino-fp32-r{RECIPE}"
    if precision == "int8":
        name = f"{sha256[:32]}-openvino-int8-r{RECIPE}-c{calibration.fingerprint()}"
    folder = build_once(cache_dir / name, lambda tmp: _convert(layout, precision, tmp))
    return folder / "model.xml"


def _convert(layout: ModelLayout, precision: str, tmp: Path) -> Path:
    logger.info("converting %s for OpenVINO (%s), once", layout.transformer_dir, precision)
    plain = tmp / "plain.onnx"
    try:
        export_plain(layout.transformer_dir, plain)
        import openvino as ov

        model = ov.Core().read_model(str(plain))
        if precision == "int8":
            model = _quantize(model, layout)
        out = tmp / "model"
        out.mkdir()
        ov.save_model(model, str(out / "model.xml"), compress_to_fp16=False)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ModelUnavailableError(
            f"cannot convert the model at {layout.transformer_dir} for OpenVINO ({exc}); set "
            "embedder.backend = 'onnx'"
        ) from exc
    return out


def _quantize(model: Any, layout: ModelLayout) -> Any:
    logging.getLogger("nncf").setLevel(logging.WARNING)  # before import: its banner
    import nncf

    tokenizer = fast_tokenizer(layout, truncate=True)
    names = {port.get_any_name() for port in model.inputs}
    texts = calibration.calibration_texts()
    if layout.lowercase:
        texts = [t.lower() for t in texts]
    samples = []
    for encoding in tokenizer.encode_batch(texts):
        ids = np.array([encoding.ids], dtype=np.int64)
        samples.append(model_feed(ids, np.ones_like(ids), names))
    # NNCF draws its own progress bars on stdout, over the command's; our log line says
    # what runs (about 10 s for MiniLM on 2 cores)
    with contextlib.redirect_stdout(io.StringIO()):
        return nncf.quantize(
            model,
            nncf.Dataset(samples),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(samples),
        )
