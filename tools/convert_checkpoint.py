#!/usr/bin/python3
"""Turns a PyTorch checkpoint (.pth) into a safetensors file that `siammae propagate --checkpoint` reads.

    /usr/bin/python3 tools/convert_checkpoint.py dino_deitsmall16_pretrain.pth dino_vits16.safetensors
    /usr/bin/python3 tools/convert_checkpoint.py checkpoint.pth teacher.safetensors --key teacher

An optional helper: it needs PyTorch (Debian's python3-torch), the library does not. It writes the
safetensors format itself (8-byte header length, a JSON header, the raw data), so the `safetensors`
package is not needed either.

Training checkpoints nest the weights: DINO's under "teacher" and "student", MAE's under "model",
others under "state_dict". --key picks one; by default the first of teacher, model, state_dict,
student that is there (DINO evaluates its teacher), or the top level when it holds the tensors.
Names are kept as they are (siammae strips "module." and "backbone." and ignores decoder and head
tensors itself); floating-point tensors are written as float32, integer ones as int64.

A .pth file is a pickle, and unpickling can run code. The file is first read with
torch.load(weights_only=True), which accepts only tensors and plain containers; checkpoints that
also pickle other objects (MAE's and DINO's store their argparse arguments) need --trust, which
loads them fully: use it only for files from a source you trust.
"""
import argparse
import json
import os
import struct
import sys

import torch

DEFAULT_KEYS = ("teacher", "model", "state_dict", "student")


def safetensors_bytes(tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        data = t.numpy().tobytes()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)  # the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def pick_state_dict(checkpoint, key):
    if key:
        if not isinstance(checkpoint, dict) or key not in checkpoint:
            keys = ", ".join(map(str, checkpoint)) if isinstance(checkpoint, dict) else type(checkpoint).__name__
            sys.exit(f"convert_checkpoint: no '{key}' in the checkpoint (it has: {keys})")
        return checkpoint[key], key
    if isinstance(checkpoint, dict):
        for candidate in DEFAULT_KEYS:
            if isinstance(checkpoint.get(candidate), dict):
                return checkpoint[candidate], candidate
        if any(torch.is_tensor(v) for v in checkpoint.values()):
            return checkpoint, ""
    sys.exit("convert_checkpoint: found no state dict (give --key; top-level entries: "
             + (", ".join(map(str, checkpoint)) if isinstance(checkpoint, dict) else type(checkpoint).__name__) + ")")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", help="the .pth file")
    parser.add_argument("output", help="the .safetensors file to write")
    parser.add_argument("--key", default="", help="the entry holding the weights (default: " + ", ".join(DEFAULT_KEYS) + ")")
    parser.add_argument("--trust", action="store_true", help="unpickle everything in the file (only for trusted files)")
    args = parser.parse_args()

    try:
        checkpoint = torch.load(args.input, map_location="cpu", weights_only=not args.trust)
    except FileNotFoundError:
        sys.exit(f"convert_checkpoint: {args.input} not found")
    except Exception as e:  # the restricted unpickler names what it refused
        if args.trust:
            raise
        sys.exit(f"convert_checkpoint: {args.input} pickles more than tensors ({str(e).splitlines()[0]}); "
                 "if you trust its source, run again with --trust")
    state, key = pick_state_dict(checkpoint, args.key)
    tensors, skipped = {}, []
    for name, value in state.items():
        if torch.is_tensor(value) and value.is_floating_point():
            tensors[name] = value.float()
        elif torch.is_tensor(value) and not value.is_complex() and value.dtype != torch.bool:
            tensors[name] = value.long()
        else:
            skipped.append(name)
    metadata = {"source": os.path.basename(args.input), "key": key}
    temp = args.output + ".tmp"
    with open(temp, "wb") as f:  # through a temporary file: an interrupted run leaves no half file
        f.write(safetensors_bytes(tensors, metadata))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, args.output)
    print(f"{args.output}: {len(tensors)} tensors from {args.input}" + (f" ['{key}']" if key else "")
          + (f"; skipped {len(skipped)} non-tensor entries: {', '.join(skipped[:5])}" if skipped else ""))


if __name__ == "__main__":
    main()
