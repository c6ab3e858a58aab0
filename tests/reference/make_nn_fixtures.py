#!/usr/bin/python3
"""Writes the nn/ fixtures from PyTorch twins of the library's modules.

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/make_nn_fixtures.py

Outputs (tests/reference/):
  nn_block.safetensors        ViT Block: parameters, input, output, output gradient, every gradient
  nn_cross_block.safetensors  cross-self block (the SiamMAE decoder block), the same
  nn_vit.safetensors          a tiny ViT: parameters, images, output tokens
  nn_misc.json                AdamW and SGD trajectories, the LR schedule, a sin-cos table
Names follow the library (= MAE/timm). Gradients are stored as "grad.<name>".
The safetensors files are written by the small writer in twins.py (the format is 8 bytes of
header length, a JSON header, raw data), so the C++ loader is tested on files it did not write.
It also checks cpp_written.safetensors, a file the C++ tests write byte for byte.
"""
import json
import math
import os

import torch

from twins import Block, CrossSelfBlock, ViT, load_safetensors, save_safetensors, sincos_2d

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def randomize(module):
    """Non-trivial values for every parameter (LayerNorm weights away from 1, biases nonzero)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn(p.shape) * (0.3 if p.dim() > 1 else 0.5) + (1.0 if "norm" in name and name.endswith("weight") else 0.0))


def module_fixture(path, module, inputs):
    randomize(module)
    inputs = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    out = module(*inputs.values())
    grad_out = torch.randn(out.shape)
    out.backward(grad_out)
    tensors = {name: p for name, p in module.named_parameters()}
    tensors.update({name: b for name, b in module.named_buffers()})
    tensors.update({f"grad.{name}": p.grad for name, p in module.named_parameters()})
    for k, v in inputs.items():
        tensors[f"input.{k}"] = v
        tensors[f"grad.input.{k}"] = v.grad
    tensors["output"] = out
    tensors["grad_output"] = grad_out
    save_safetensors(path, tensors, {"generator": "tests/reference/make_nn_fixtures.py", "torch": torch.__version__})


module_fixture(os.path.join(HERE, "nn_block.safetensors"), Block(16, 4), {"x": torch.randn(2, 5, 16)})
module_fixture(os.path.join(HERE, "nn_cross_block.safetensors"), CrossSelfBlock(16, 4),
               {"y": torch.randn(2, 4, 16), "memory": torch.randn(2, 6, 16)})
vit = ViT(16, 4, 16, 2, 2)
module_fixture(os.path.join(HERE, "nn_vit.safetensors"), vit, {"images": torch.randn(2, 3, 16, 16)})

# ---- optimizers on a fixed problem: least squares with a weight matrix and a bias ----
def trajectory(make_optimizer, steps=10):
    torch.manual_seed(1)
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    w = torch.randn(2, 3).requires_grad_()
    b = torch.randn(2).requires_grad_()
    opt = make_optimizer(w, b)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((x @ w.t() + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"x": x.reshape(-1).tolist(), "y": y.reshape(-1).tolist(), "losses": losses,
            "w": w.detach().reshape(-1).tolist(), "b": b.detach().tolist()}


def start_values():
    torch.manual_seed(1)
    torch.randn(8, 3), torch.randn(8, 2)
    return torch.randn(2, 3).reshape(-1).tolist(), torch.randn(2).tolist()


w0, b0 = start_values()
adamw = trajectory(lambda w, b: torch.optim.AdamW([{"params": [w], "weight_decay": 0.05},
                                                  {"params": [b], "weight_decay": 0.0}],
                                                 lr=0.05, betas=(0.9, 0.95), eps=1e-8))
sgd = trajectory(lambda w, b: torch.optim.SGD([{"params": [w], "weight_decay": 0.01},
                                              {"params": [b], "weight_decay": 0.0}], lr=0.1, momentum=0.9))


def lr_at(step, warmup, total, base, minimum):
    """MAE's util/lr_sched.adjust_learning_rate, in steps."""
    if step < warmup:
        return base * step / warmup
    return minimum + (base - minimum) * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / (total - warmup)))


schedule = {"warmup": 5, "total": 20, "base": 1e-3, "min": 1e-5,
            "values": [lr_at(s, 5, 20, 1e-3, 1e-5) for s in range(21)]}
sincos = {"dim": 8, "grid": 3, "table": sincos_2d(8, 3, True).reshape(-1).tolist()}

# Bicubic resizing of a position grid (what evaluation at another resolution does), up and down.
torch.manual_seed(2)
grid = torch.randn(2, 4, 4)
bicubic = {"input": grid.reshape(-1).tolist(),
           "up": torch.nn.functional.interpolate(grid[None], size=(7, 9), mode="bicubic",
                                                 align_corners=False)[0].reshape(-1).tolist(),
           "down": torch.nn.functional.interpolate(grid[None], size=(3, 2), mode="bicubic",
                                                   align_corners=False)[0].reshape(-1).tolist()}

with open(os.path.join(HERE, "nn_misc.json"), "w") as f:
    json.dump({"generator": "tests/reference/make_nn_fixtures.py", "w0": w0, "b0": b0, "adamw": adamw, "sgd": sgd,
               "schedule": schedule, "sincos": sincos, "bicubic": bicubic}, f, indent=1)

# ---- a file written by the C++ library loads here ----
cpp_file = os.path.join(HERE, "cpp_written.safetensors")
if os.path.exists(cpp_file):
    tensors, metadata = load_safetensors(cpp_file)
    assert metadata == {"note": "written by tests/test_nn.cpp"}, metadata
    assert torch.equal(tensors["a"], torch.arange(6, dtype=torch.float32).reshape(2, 3)), tensors["a"]
    assert torch.equal(tensors["b"], torch.tensor([1.5, -2.0], dtype=torch.float64)), tensors["b"]
    assert torch.equal(tensors["c"], torch.tensor([[7], [-8]], dtype=torch.int64)), tensors["c"]
    print("cpp_written.safetensors loads in Python with the expected values")
print("wrote nn fixtures")
