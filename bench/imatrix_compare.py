#!/usr/bin/env python3
"""Compares two importance matrices in llama-imatrix's GGUF format value by value.

  bench/imatrix_compare.py A.gguf B.gguf

Prints one JSON object: the tensors of each, whether they name the same weights, the token
counts, and the largest relative difference of the per-column mean squared activations
(in_sum2 / counts), the quantity llama-quantize weights its rounding errors with."""
import json
import struct
import sys

TYPE_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF value types


def read_gguf_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def value(kind):
        nonlocal pos
        if kind == 8:
            return string()
        if kind == 9:
            item_kind, n = take("I"), take("Q")
            return [value(item_kind) for _ in range(n)]
        fmt = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}[kind]
        return take(fmt)

    if data[:4] != b"GGUF":
        raise SystemExit(f"{path}: not a GGUF file")
    pos = 4
    _version, n_tensors, n_kv = take("I"), take("Q"), take("Q")
    kv = {}
    for _ in range(n_kv):
        key = string()
        kv[key] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        n_dims = take("I")
        dims = [take("Q") for _ in range(n_dims)]
        kind, offset = take("I"), take("Q")
        if kind != 0:
            raise SystemExit(f"{path}: tensor {name} is not F32")
        infos.append((name, dims, offset))
    align = kv.get("general.alignment", 32)
    base = (pos + align - 1) // align * align
    tensors = {}
    for name, dims, offset in infos:
        n = 1
        for d in dims:
            n *= d
        tensors[name] = (dims, struct.unpack_from(f"<{n}f", data, base + offset))
    return kv, tensors


def means(tensors):
    out = {}
    for name, (dims, sums) in tensors.items():
        if not name.endswith(".in_sum2"):
            continue
        weight = name[: -len(".in_sum2")]
        counts = tensors[weight + ".counts"][1]
        row = dims[0]
        out[weight] = [s / counts[i // row] if counts[i // row] else 0.0 for i, s in enumerate(sums)], counts
    return out


def main():
    kv_a, a = read_gguf_f32(sys.argv[1])
    kv_b, b = read_gguf_f32(sys.argv[2])
    ma, mb = means(a), means(b)
    worst = 0.0
    worst_at = ""
    n_values = 0
    for weight in sorted(set(ma) & set(mb)):
        va, vb = ma[weight][0], mb[weight][0]
        if len(va) != len(vb):
            raise SystemExit(f"{weight}: {len(va)} values against {len(vb)}")
        for i, (x, y) in enumerate(zip(va, vb)):
            n_values += 1
            rel = abs(x - y) / max(abs(x), abs(y), 1e-30)
            if rel > worst:
                worst, worst_at = rel, f"{weight}[{i}]"
    print(json.dumps({
        "weights_a": len(ma), "weights_b": len(mb), "same_weights": sorted(ma) == sorted(mb),
        "chunks": [kv_a.get("imatrix.chunk_count"), kv_b.get("imatrix.chunk_count")],
        "chunk_size": [kv_a.get("imatrix.chunk_size"), kv_b.get("imatrix.chunk_size")],
        "counts_equal": all(ma[w][1] == mb[w][1] for w in set(ma) & set(mb)),
        "values_compared": n_values, "max_rel_diff": worst, "max_rel_diff_at": worst_at}))


if __name__ == "__main__":
    main()
