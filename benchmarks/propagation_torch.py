#!/usr/bin/python3
"""The PyTorch twin of bench_propagation: the same work on a 480x848 DAVIS-sized frame.

  /usr/bin/python3 benchmarks/propagation_torch.py --preset tiny --threads 2 [--frames 2]

1. Features: the twin ViT (tests/reference/twins.py) of the preset, its position table resized
   bicubically to the frame's grid, CLS dropped, L2-normalized: (h, w, C).
2. One propagation step with a full context, as CRW/videowalk compute it in PyTorch: the first
   frame plus a queue of 20 frames, cosine affinity of every target cell to every context cell,
   queue cells farther than the radius (20 cells, Euclidean, strict) masked out, the top 7 over
   the whole context, softmax(affinity / 0.7), the weighted sum of the sources' labels. Targets
   go in chunks so the affinities stay a few hundred MB.
Prints one line per preset like bench_propagation. Needs Debian's python3-torch.
"""
import argparse
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from twins import ViT  # noqa: E402

PRESETS = {"tiny": (64, 8, 192, 6, 3), "small": (112, 16, 384, 12, 6)}  # image, patch, dim, depth, heads
HEIGHT, WIDTH = 480, 848
TOPK, QUEUE, RADIUS, TEMPERATURE, CHUNK = 7, 20, 20.0, 0.7, 256

parser = argparse.ArgumentParser()
parser.add_argument("--preset", choices=PRESETS, action="append")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--frames", type=int, default=2)
args = parser.parse_args()
torch.set_num_threads(args.threads)


def features(model, frame, patch):
    h, w = frame.shape[-2] // patch, frame.shape[-1] // patch
    x = model.patch_embed.proj(frame).flatten(2).transpose(1, 2)  # (1, h w, C)
    grid = int(round((model.pos_embed.shape[1] - 1) ** 0.5))
    table = model.pos_embed[:, 1:].reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
    table = F.interpolate(table, size=(h, w), mode="bicubic", align_corners=False)
    x = model.encode_tokens(x + table.flatten(2).transpose(1, 2))[0, 1:]  # (h w, C)
    return F.normalize(x, dim=-1).reshape(h, w, -1)


def propagate(target, context, labels, queue_mask):
    """target (N, C); context (T, N, C), first frame first; labels (T, N, K); queue_mask (N, N)."""
    t, n, _ = context.shape
    out = torch.empty(n, labels.shape[-1])
    flat_labels = labels.reshape(t * n, -1)
    for s in range(0, n, CHUNK):
        a = torch.einsum("tnc,mc->tnm", context, target[s:s + CHUNK])  # (T, N, chunk)
        a[1:].masked_fill_(~queue_mask[:, s:s + CHUNK], float("-inf"))
        a = a.permute(2, 0, 1).reshape(a.shape[2], t * n)                 # (chunk, T N)
        values, index = a.topk(TOPK, dim=1)
        weights = torch.softmax(values / TEMPERATURE, dim=1)
        out[s:s + CHUNK] = (weights.unsqueeze(-1) * flat_labels[index]).sum(1)
    return out


print(f"pytorch {torch.__version__}, {torch.get_num_threads()} threads, frames {HEIGHT}x{WIDTH}, "
      f"top-{TOPK}, queue {QUEUE}, radius {RADIUS:g}")
print(f"{'preset':<7} {'grid':<9} {'encoder s':>12} {'propagate s':>14} {'frames/s':>10} {'peak memory MB':>14}")
torch.manual_seed(0)
for preset in args.preset or ["tiny", "small"]:
    image, patch, dim, depth, heads = PRESETS[preset]
    model = ViT(image, patch, dim, depth, heads).eval()
    frame = torch.randn(1, 3, HEIGHT, WIDTH)
    with torch.no_grad():
        grid = features(model, frame, patch)  # warm-up
        start = time.perf_counter()
        for _ in range(args.frames):
            grid = features(model, frame, patch)
        encoder = (time.perf_counter() - start) / args.frames

        h, w, c = grid.shape
        n = h * w
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        cells = torch.stack([yy.reshape(-1), xx.reshape(-1)], 1).float()
        queue_mask = torch.cdist(cells, cells) < RADIUS  # (N sources, N targets)
        context = F.normalize(torch.randn(1 + QUEUE, n, c), dim=-1)
        labels = torch.softmax(torch.randn(1 + QUEUE, n, 2), -1)
        target = grid.reshape(n, c)
        propagate(target, context, labels, queue_mask)  # warm-up
        start = time.perf_counter()
        for _ in range(args.frames):
            propagate(target, context, labels, queue_mask)
        step = (time.perf_counter() - start) / args.frames
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{preset:<7} {f'{h}x{w}':<9} {encoder:12.2f} {step:14.2f} {1 / (encoder + step):10.3f} {peak:14.0f}")
