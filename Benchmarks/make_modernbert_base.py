"""Writes a PyLate ColBERT folder with a ModernBERT-base-shaped backbone and random weights, for
encoder speed comparisons on the reference model's shape (issue 22): hidden 768, 22 layers, 12
heads, intermediate 1152 (GeGLU), local attention 128 with a global layer every 3, 128-dim
output, documents of 180 tokens and queries of 32. There is no model hub here, so the tokenizer
is the toy BPE of the test fixtures; only the embedding table's size depends on it.

    python make_modernbert_base.py OUTPUT_FOLDER   # torch, transformers 5.3.0, pylate 1.6.0
"""
import os
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from pylate import models
from transformers import AutoTokenizer, ModernBertConfig, ModernBertModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
tokenizer = AutoTokenizer.from_pretrained(os.path.join(ROOT, "Tests", "PlaidEncoderTests", "Fixtures", "toy-bpe"))
torch.manual_seed(0)
config = ModernBertConfig(
    vocab_size=len(tokenizer), hidden_size=768, intermediate_size=1152, num_hidden_layers=22, num_attention_heads=12,
    hidden_activation="gelu", max_position_embeddings=8192, norm_eps=1e-5, norm_bias=False, attention_bias=False,
    mlp_bias=False, local_attention=128, global_attn_every_n_layers=3, global_rope_theta=160000.0,
    local_rope_theta=10000.0, pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id,
    sep_token_id=tokenizer.sep_token_id, bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
)
with tempfile.TemporaryDirectory() as staging:
    ModernBertModel(config).save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    model = models.ColBERT(model_name_or_path=staging, device="cpu", local_files_only=True,
                           embedding_size=128, query_length=32, document_length=180)
    model.save(sys.argv[1])
print(f"{sys.argv[1]}: ModernBERT-base-shaped ColBERT, random weights")
