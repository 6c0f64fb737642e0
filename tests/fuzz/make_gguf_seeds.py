#!/usr/bin/env python3
"""Writes the GGUF seeds of tests/fuzz/corpus/gguf/: tiny GGUF v3 files with the keys inspect reads
(architecture, shape keys, file type, token list, tokenizer model, uaqf.synthetic) and one or two
small tensors. Plain struct packing (no numpy, no gguf-py). Run from anywhere:
  python3 tests/fuzz/make_gguf_seeds.py
"""
import struct
from pathlib import Path

out = Path(__file__).resolve().parent / "corpus" / "gguf"
UINT32, BOOL, STRING, ARRAY = 4, 7, 8, 9
F32, F16 = 0, 1
ALIGN = 32


def s(text):
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def kv(key, vtype, value):
    body = s(key) + struct.pack("<I", vtype)
    if vtype == UINT32:
        body += struct.pack("<I", value)
    elif vtype == BOOL:
        body += struct.pack("<B", value)
    elif vtype == STRING:
        body += s(value)
    elif vtype == ARRAY:  # of strings
        body += struct.pack("<IQ", STRING, len(value)) + b"".join(s(v) for v in value)
    return body


def write(name, tied, synthetic):
    kvs = [
        kv("general.architecture", STRING, "llama"),
        kv("general.file_type", UINT32, 1),
        kv("llama.context_length", UINT32, 64),
        kv("llama.block_count", UINT32, 1),
        kv("llama.embedding_length", UINT32, 4),
        kv("tokenizer.ggml.model", STRING, "llama"),
        kv("tokenizer.ggml.tokens", ARRAY, ["<s>", "a", "b"]),
    ]
    if synthetic:
        kvs.append(kv("uaqf.synthetic", BOOL, 1))
    tensors = [("token_embd.weight", F32, 4 * 3 * 4)]
    if not tied:
        tensors.append(("output.weight", F16, 2 * 3 * 4))
    infos, offset = b"", 0
    for tname, ttype, nbytes in tensors:
        infos += s(tname) + struct.pack("<I", 2) + struct.pack("<QQ", 4, 3) + struct.pack("<IQ", ttype, offset)
        offset += (nbytes + ALIGN - 1) // ALIGN * ALIGN
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
    head += b"\0" * (-len(head) % ALIGN)
    (out / name).write_bytes(head + b"\0" * offset)


out.mkdir(parents=True, exist_ok=True)
write("tiny-tied.gguf", tied=True, synthetic=False)
write("tiny-output.gguf", tied=False, synthetic=True)
