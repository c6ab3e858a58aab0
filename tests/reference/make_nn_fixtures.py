#!/usr/bin/python3
"""Writes the nn/ fixtures from PyTorch twins of the library's modules.

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/make_nn_fixtures.py

Outputs (tests/reference/):
  nn_block.safetensors        ViT Block: parameters, input, output, output gradient, every gradient
  nn_cross_block.safetensors  cross-self block (the SiamMAE decoder block), the same
  nn_vit.safetensors          a tiny ViT: parameters, images, output tokens
  nn_misc.json                AdamW and SGD trajectories, the LR schedule, a sin-cos table
Names follow the library (= MAE/timm). Gradients are stored as "grad.<name>".
The safetensors files are written by the small writer below (the format is 8 bytes of
header length, a JSON header, raw data), so the C++ loader is tested on files it did not write.
It also checks cpp_written.safetensors, a file the C++ tests write byte for byte.
"""
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
f64 = torch.float64
torch.set_default_dtype(f64)

DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.int64: "I64"}


def save_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    np_types = {"F64": torch.float64, "F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[b:end]), dtype=np_types[e["dtype"]]).reshape(e["shape"])
    return out, header.get("__metadata__", {})


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax(q @ k.transpose(-1, -2) * (c // self.heads) ** -0.5, -1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, c))


class CrossAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mem):
        b, n, c = x.shape
        m = mem.shape[1]
        d = c // self.heads
        q = self.q(x).reshape(b, n, self.heads, d).permute(0, 2, 1, 3)
        kv = self.kv(mem).reshape(b, m, 2, self.heads, d).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ kv[0].transpose(-1, -2) * d ** -0.5, -1)
        return self.proj((a @ kv[1]).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CrossSelfBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim, eps=1e-6)
        self.norm_kv = nn.LayerNorm(dim, eps=1e-6)
        self.cross_attn = CrossAttention(dim, heads)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, y, mem):
        y = y + self.cross_attn(self.norm_q(y), self.norm_kv(mem))
        y = y + self.attn(self.norm1(y))
        return y + self.mlp(self.norm2(y))


def sincos_1d(dim, pos):
    omega = torch.arange(dim // 2, dtype=f64) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = pos.reshape(-1)[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], 1)


def sincos_2d(dim, grid, cls):
    """MAE's get_2d_sincos_pos_embed, in torch."""
    gh = torch.arange(grid, dtype=f64)
    gw = torch.arange(grid, dtype=f64)
    w_coord, h_coord = torch.meshgrid(gw, gh, indexing="xy")  # numpy meshgrid(grid_w, grid_h)
    emb = torch.cat([sincos_1d(dim // 2, w_coord), sincos_1d(dim // 2, h_coord)], 1)
    if cls:
        emb = torch.cat([torch.zeros(1, dim), emb], 0)
    return emb


class ViT(nn.Module):
    def __init__(self, image, patch, dim, depth, heads):
        super().__init__()
        self.patch = patch
        grid = image // patch
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.register_buffer("pos_embed", sincos_2d(dim, grid, True)[None])
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, patch)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, images):
        x = self.patch_embed.proj(images).flatten(2).transpose(1, 2)
        x = x + self.pos_embed[:, 1:]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], 1)
        for b in self.blocks:
            x = b(x)
        return self.norm(x)


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

with open(os.path.join(HERE, "nn_misc.json"), "w") as f:
    json.dump({"generator": "tests/reference/make_nn_fixtures.py", "w0": w0, "b0": b0, "adamw": adamw, "sgd": sgd,
               "schedule": schedule, "sincos": sincos}, f, indent=1)

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
