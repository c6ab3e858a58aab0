#!/usr/bin/env python3
"""Writes the text and MAT-file seeds of tests/fuzz/corpus (the image, PNG, safetensors and
config seeds are small files the library itself wrote, plus real frames and masks from
data/samples). Run from the repository root: tests/fuzz/make_corpus.py"""
import pathlib
import struct
import zlib

corpus = pathlib.Path(__file__).resolve().parent / "corpus"


def element(kind, data, allow_small=True):
    """One MAT v5 data element: tag + data padded to 8 bytes (small format up to 4 bytes)."""
    if allow_small and len(data) <= 4:
        return (struct.pack("<I", len(data) << 16 | kind) + data).ljust(8, b"\0")
    out = struct.pack("<II", kind, len(data)) + data
    return out.ljust((len(out) + 7) // 8 * 8, b"\0")


def matrix(name, dims, values, as_uint8=False):
    flags = element(6, struct.pack("<II", 6, 0), False)  # class 6: double
    real = bytes(int(v) for v in values) if as_uint8 else struct.pack(f"<{len(values)}d", *values)
    body = flags + element(5, struct.pack(f"<{len(dims)}i", *dims), False) + element(1, name.encode())
    return element(14, body + element(2 if as_uint8 else 9, real), False)


def mat_file(variables, compress):
    header = b"MATLAB 5.0 MAT-file, fuzz seed".ljust(116, b" ") + bytes(8) + b"\x00\x01IM"
    out = header
    for v in variables:
        m = matrix(*v)
        if compress:
            packed = zlib.compress(m)
            out += struct.pack("<II", 15, len(packed)) + packed  # compressed elements are not padded
        else:
            out += m
    return out


frames = 3
pose = [float((j * 7 + t * 3) % 50 + 1) for t in range(frames) for j in range(15) for _ in range(2)]
(corpus / "mat").mkdir(parents=True, exist_ok=True)
(corpus / "mat" / "plain.mat").write_bytes(mat_file([("pos_img", [2, 15, frames], pose)], False))
(corpus / "mat" / "compressed.mat").write_bytes(
    mat_file([("pos_img", [2, 15, frames], pose), ("scale", [1, 1], [1.0], True)], True))

(corpus / "davis").mkdir(parents=True, exist_ok=True)
(corpus / "davis" / "two_sequences.txt").write_text(
    "bear\ncows\n--\nF bear 00000.jpg\nF bear 00001.jpg\nM bear 00000.png\nM bear 00001.png\n"
    "F cows 00000.jpg\nM cows 00000.png\n")
(corpus / "davis" / "first_mask_only.txt").write_text("dog\n--\nF dog 00000.jpg\nF dog 00001.jpg\nM dog 00000.png\n")
(corpus / "davis" / "garbage_mask.txt").write_text("x\n--\nF x 00000.jpg\nG x 00000.png \x89PNG\r\n")

(corpus / "vip").mkdir(parents=True, exist_ok=True)
(corpus / "vip" / "list_two_columns").write_bytes(b"\0Images/v1 Annotations/Category_ids/v1\n")
(corpus / "vip" / "list_names").write_bytes(b"\0v1\nv1\n")
