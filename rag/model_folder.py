"""Finding a model's files on this machine: a local folder, or the Hugging Face cache.

Never downloads when `HF_HUB_OFFLINE=1`; a model that is not here fails with a message that
names the setting to change.

Example:
    >>> model_dir("", "/models/bge-reranker-v2-m3", "RAG_RERANKER__PATH")  # doctest: +SKIP
    PosixPath('/models/bge-reranker-v2-m3')
"""

from __future__ import annotations

from pathlib import Path

from rag.errors import ModelUnavailableError

__all__ = ["model_dir"]


def model_dir(model: str, path: str | None, setting: str) -> Path:
    """The directory of `path`, else of `model` (a folder, or a hub id in the local cache).

    Args:
        model: A folder or a Hugging Face model id.
        path: A local folder; wins over `model` when given.
        setting: The environment variable a user sets to point at a folder (for messages).

    Raises:
        ModelUnavailableError: No such folder, or the id is not cached and cannot be fetched.
    """
    if path:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ModelUnavailableError(
                f"model directory {folder} does not exist; set {setting} to a model folder"
            )
        return folder
    if not model:
        raise ModelUnavailableError(f"no model configured; set {setting} to a model folder")
    if Path(model).expanduser().is_dir():
        return Path(model).expanduser()
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model))
    except Exception as exc:  # noqa: BLE001 - hub errors have many types; all mean "not here"
        raise ModelUnavailableError(
            f"model {model} is not in the local Hugging Face cache and cannot be downloaded "
            f"({type(exc).__name__}); download it on a connected machine or set {setting} "
            "to a local model folder"
        ) from exc
