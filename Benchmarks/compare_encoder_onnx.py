"""ONNX Runtime as the encoder peer (issue 22): exports a sentence-transformers/PyLate ColBERT
folder (a BERT backbone and PyLate's Dense layer) to ONNX, quantizes it dynamically to int8 as
next-plaid's --int8 does, and encodes a BEIR corpus's documents with each, printing model input
tokens per second (padding excluded) and, for int8, the lowest and mean cosine of its token
vectors against fp32's. Run `plaid encode` on the same corpus and threads beside it
(Benchmarks/compare_encoder.sh prints plaid's tokens/s the same way).

    python compare_encoder_onnx.py MODEL_FOLDER CORPUS.jsonl [THREADS] [DOCUMENTS]

Needs torch, transformers, onnx and onnxruntime (a venv; see ../shared/python-reference.md).
"""
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

model_folder, corpus = Path(sys.argv[1]), sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
limit = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
settings = json.loads((model_folder / "config_sentence_transformers.json").read_text())
dense_config = json.loads((model_folder / "1_Dense/config.json").read_text())


class ColBERTDocuments(torch.nn.Module):
    """The backbone's last hidden state through the Dense layer, normalised per token."""

    def __init__(self):
        super().__init__()
        self.backbone = AutoModel.from_pretrained(model_folder)
        self.dense = torch.nn.Linear(dense_config["in_features"], dense_config["out_features"], bias=dense_config["bias"])
        weights = load_file(str(model_folder / "1_Dense/model.safetensors"))
        self.dense.load_state_dict({k.removeprefix("linear."): v for k, v in weights.items()})

    def forward(self, input_ids, attention_mask):
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return torch.nn.functional.normalize(self.dense(hidden), dim=-1)


tokenizer = AutoTokenizer.from_pretrained(model_folder)
texts = []
with open(corpus) as lines:
    for line in lines:
        record = json.loads(line)
        title, text = record.get("title", ""), record.get("text", "")
        texts.append(settings["document_prefix"] + (f"{title} {text}" if title else text))
        if len(texts) == limit:
            break
# Batches of similar length, as plaid's encoder forms them.
texts.sort(key=len)
batches = [tokenizer(texts[i:i + 32], truncation=True, max_length=settings["document_length"], padding=True, return_tensors="np")
           for i in range(0, len(texts), 32)]
tokens = sum(int(b["attention_mask"].sum()) for b in batches)

work = Path(tempfile.mkdtemp())
module = ColBERTDocuments().eval()
example = tokenizer(["an example document"], return_tensors="pt")
torch.onnx.export(module, (example["input_ids"], example["attention_mask"]), str(work / "fp32.onnx"), opset_version=17,
                  input_names=["input_ids", "attention_mask"], output_names=["embeddings"], dynamo=False,
                  dynamic_axes={"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"},
                                "embeddings": {0: "batch", 1: "length"}})
quantize_dynamic(str(work / "fp32.onnx"), str(work / "int8.onnx"), weight_type=QuantType.QInt8)


def encode(path):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    started = time.perf_counter()
    outputs = [session.run(None, {"input_ids": b["input_ids"].astype(np.int64), "attention_mask": b["attention_mask"].astype(np.int64)})[0]
               for b in batches]
    return tokens / (time.perf_counter() - started), outputs


fp32_rate, fp32 = encode(work / "fp32.onnx")
int8_rate, int8 = encode(work / "int8.onnx")
cosines = np.concatenate([(a * b).sum(-1)[m["attention_mask"].astype(bool)] for a, b, m in zip(fp32, int8, batches)])
print(f"documents {len(texts)}, model input tokens {tokens}, threads {threads}")
print(f"onnxruntime {onnxruntime.__version__} fp32: {fp32_rate:.0f} tokens/s")
print(f"onnxruntime {onnxruntime.__version__} int8 (dynamic): {int8_rate:.0f} tokens/s; token cosine to fp32: min {cosines.min():.4f}, mean {cosines.mean():.4f}")
