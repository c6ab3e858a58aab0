#!/usr/bin/env python3
"""PyTorch's twin of bench_gpu_step: the same SiamMAE (tests/reference/twins.py, built from the
config bench_gpu_step prints), the same step (forward, backward, AdamW), the same timing (after
warm-up steps, --steps steps back to back, one wait for the GPU), eager mode; float32 with TF32
off, or bfloat16 autocast. Prints one JSON line like bench_gpu_step's.

  build/benchmarks/gpu/bench_gpu_step --config vits16 --print-config > vits16.json
  python3 benchmarks/gpu/torch_step.py --config-json vits16.json --batch 64 --precision bf16
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
from twins import SiamMAE  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--config-json", required=True)
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--warmup", type=int, default=3)
parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
parser.add_argument("--device", default="cuda", help="cuda; cpu to try the script without a GPU")
args = parser.parse_args()
on_gpu = args.device == "cuda"

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(0)
with open(args.config_json) as f:
    cfg = json.load(f)
assert cfg["mlp_ratio"] == 4 and cfg["mask_kind"] == "random" and not cfg["symmetric_masking"], cfg
device = torch.device(args.device)
model = SiamMAE(cfg).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
s, b = cfg["image_size"], args.batch
f1, f2 = torch.randn(b, 3, s, s, device=device), torch.randn(b, 3, s, s, device=device)
n = (s // cfg["patch_size"]) ** 2
keep = int(n * (1 - cfg["mask_ratio"]))


def step():
    ids = torch.argsort(torch.rand(b, n, device=device), dim=1)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
        loss, _, _ = model(f1, f2, ids2=ids, keep2=keep)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def synchronize():
    if on_gpu:
        torch.cuda.synchronize()


for _ in range(args.warmup):
    step()
synchronize()
if on_gpu:
    torch.cuda.reset_peak_memory_stats()
start = time.perf_counter()
for _ in range(args.steps):
    loss = step()
last_loss = loss.item()
synchronize()
seconds = time.perf_counter() - start
print(json.dumps({"impl": "pytorch " + torch.__version__, "config": cfg["name"], "batch": b, "precision": args.precision,
                  "device": torch.cuda.get_device_name() if on_gpu else "cpu",
                  "ms_per_step": round(1e3 * seconds / args.steps, 2), "pairs_per_s": round(b * args.steps / seconds, 1),
                  "peak_tensor_mb": round(torch.cuda.max_memory_allocated() / 1e6) if on_gpu else None,
                  "peak_reserved_mb": round(torch.cuda.max_memory_reserved() / 1e6) if on_gpu else None,
                  "loss": round(last_loss, 4)}))
