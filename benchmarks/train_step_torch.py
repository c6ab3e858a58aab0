#!/usr/bin/python3
"""The PyTorch reference for bench_train_step: the same SiamMAE (tests/reference/twins.py), the
same step (forward, backward, AdamW), float32, on the same number of threads.

  /usr/bin/python3 benchmarks/train_step_torch.py --config tiny --batch 32 --threads 2
Needs Debian's python3-torch and, for a fair BLAS, libopenblas0-openmp (else PyTorch falls
back to the slow reference BLAS). Prints one line like bench_train_step's.
"""
import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from twins import SiamMAE  # noqa: E402

PRESETS = {  # image, patch, encoder dim/depth/heads, decoder dim/depth/heads (models/siammae/config.h)
    "tiny": (64, 8, 192, 6, 3, 128, 2, 4),
    "small": (112, 16, 384, 12, 6, 256, 4, 8),
    "vits16": (224, 16, 384, 12, 6, 512, 8, 16),
    "vits8": (224, 8, 384, 12, 6, 512, 8, 16),
}

parser = argparse.ArgumentParser()
parser.add_argument("--config", default="tiny", choices=PRESETS)
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--steps", type=int, default=5)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)

image, patch, ed, edepth, eh, dd, ddepth, dh = PRESETS[args.config]
model = SiamMAE({"image_size": image, "patch_size": patch, "encoder_dim": ed, "encoder_depth": edepth,
                 "encoder_heads": eh, "decoder_dim": dd, "decoder_depth": ddepth, "decoder_heads": dh,
                 "decoder": "cross-self", "encoder": "siamese", "norm_pix_loss": True})
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
f1, f2 = torch.randn(args.batch, 3, image, image), torch.randn(args.batch, 3, image, image)
n = (image // patch) ** 2
keep = int(n * (1 - 0.95))

best = [1e30, 1e30, 1e30]
for step in range(args.steps + 1):  # step 0 warms up
    ids = torch.argsort(torch.rand(args.batch, n), dim=1)
    t0 = time.perf_counter()
    loss, _, _ = model(f1, f2, ids2=ids, keep2=keep)
    t1 = time.perf_counter()
    optimizer.zero_grad()
    loss.backward()
    t2 = time.perf_counter()
    optimizer.step()
    t3 = time.perf_counter()
    if step:
        best = [min(b, t * 1e3) for b, t in zip(best, (t1 - t0, t2 - t1, t3 - t2))]
total = sum(best)
print(f"pytorch {torch.__version__} {args.config} batch {args.batch}, {torch.get_num_threads()} threads: "
      f"forward {best[0]:.1f} ms, backward {best[1]:.1f} ms, AdamW {best[2]:.1f} ms, step {total:.1f} ms = "
      f"{1e3 * args.batch / total:.1f} pairs/s, peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
