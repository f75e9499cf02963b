"""Write a tiny random LLaMA model as GGUF, with its own SentencePiece vocabulary.

No model weights can be downloaded on our build machines, yet the generation layer must be
tested against a real OpenAI-compatible server. This writes a 2-layer LLaMA (random weights,
a 400-piece SentencePiece vocabulary with byte fallback, a chat template) that llama.cpp
loads in milliseconds. Its text is gibberish; the protocol around it is real.

Usage:
    python -m tests.support.tiny_gguf /tmp/tiny.gguf
    python -m llama_cpp.server --model /tmp/tiny.gguf --model_alias tiny --port 8011
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["write_tiny_llama"]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

_TEXT = """
The employee handbook says every employee receives twenty days of paid leave each year.
Unused days can be carried over until the end of March. 员工每年享有二十天带薪年假。
To remove a document from the index, run the delete command with the file path.
Retrieval combines dense vectors and BM25 scores, then reranks the best passages.
The quick brown fox jumps over the lazy dog. Numbers 0 1 2 3 4 5 6 7 8 9 and [1] [2] [3].
"""


def _train(size: int) -> bytes:
    """A SentencePiece model trained on a few sentences, serialised."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_TEXT.strip().splitlines() * 20),
        model_writer=model,
        vocab_size=size,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return model.getvalue()


def _vocabulary(proto: bytes) -> list[tuple[str, float, int]]:
    """(piece, score, token type) of each piece of a SentencePiece model."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=proto)
    pieces = []
    for i in range(sp.get_piece_size()):
        kind = 1
        if sp.is_unknown(i):
            kind = 2
        elif sp.is_control(i):
            kind = 3
        elif sp.is_byte(i):
            kind = 6
        pieces.append((sp.id_to_piece(i), sp.get_score(i), kind))
    return pieces


def write_tiny_llama(
    path: Path,
    *,
    seed: int = 0,
    context: int = 2048,
    tokenizer_dir: Path | None = None,
    mean_pooling: bool = False,
) -> Path:
    """Write the model to `path` and return it; with `tokenizer_dir`, also its tokenizer as a
    Hugging Face folder (what a fine-tuned model's folder holds), for exact token counts.
    With `mean_pooling`, the file declares mean pooling, so that a server run with
    embeddings on answers one vector per text (as an embedding model's GGUF does)."""
    import gguf

    proto = _train(400)
    vocab = _vocabulary(proto)
    if tokenizer_dir is not None:
        _write_tokenizer(proto, tokenizer_dir)
    n_vocab, n_embd, n_head, n_ff, n_layer = len(vocab), 64, 4, 128, 2
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-random-llama")
    writer.add_context_length(context)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list([p for p, _, _ in vocab])
    writer.add_token_scores([s for _, s, _ in vocab])
    writer.add_token_types([t for _, _, t in vocab])
    pieces = [p for p, _, _ in vocab]
    writer.add_unk_token_id(pieces.index("<unk>"))
    writer.add_bos_token_id(pieces.index("<s>"))
    writer.add_eos_token_id(pieces.index("</s>"))
    writer.add_chat_template(CHAT_TEMPLATE)
    if mean_pooling:
        writer.add_pooling_type(gguf.PoolingType.MEAN)

    writer.add_tensor("token_embd.weight", weight(n_vocab, n_embd))
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(n_embd, n_ff))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", weight(n_vocab, n_embd))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _write_tokenizer(proto: bytes, folder: Path) -> None:
    """tokenizer.model and tokenizer_config.json, as in a LLaMA model's folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.model").write_bytes(proto)
    config = {
        "tokenizer_class": "LlamaTokenizer",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tiny.gguf")
    print(write_tiny_llama(out))
