"""PyTorch twins of the library's modules, and a small safetensors reader/writer.

Shared by the fixture scripts in this folder. Parameter names follow the library (= MAE/timm),
so a state dict moves between the two unchanged. PyTorch is only the oracle: nothing in the
library uses it.
"""
import json
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

f64 = torch.float64

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


class CrossBlock(nn.Module):
    """Cross-attention and MLP, no self-attention (the "cross" decoder ablation)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim, eps=1e-6)
        self.norm_kv = nn.LayerNorm(dim, eps=1e-6)
        self.cross_attn = CrossAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, y, mem):
        y = y + self.cross_attn(self.norm_q(y), self.norm_kv(mem))
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
    return emb.to(torch.get_default_dtype())


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

    def embed(self, images):
        x = self.patch_embed.proj(images).flatten(2).transpose(1, 2)
        return x + self.pos_embed[:, 1:]

    def encode_tokens(self, x):
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], 1)
        for b in self.blocks:
            x = b(x)
        return self.norm(x)

    def forward(self, images):
        return self.encode_tokens(self.embed(images))


def take(x, ids):
    """x (B, N, C), ids (B, n) -> (B, n, C)."""
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[2]))


class SiamMAE(ViT):
    """SiamMAE after MAE's models_mae.py: the ViT encoder's names at the top level, then the decoder.

    cfg: image_size, patch_size, encoder_dim/depth/heads, decoder_dim/depth/heads, mask_ratio,
    decoder ("cross-self" | "cross" | "joint"), encoder ("siamese" | "joint"), symmetric_masking,
    norm_pix_loss. Masks come in as ids_shuffle (the first len_keep patches of a row stay visible).
    """

    def __init__(self, cfg):
        super().__init__(cfg["image_size"], cfg["patch_size"], cfg["encoder_dim"], cfg["encoder_depth"],
                         cfg["encoder_heads"])
        self.cfg = cfg
        dd, grid = cfg["decoder_dim"], cfg["image_size"] // cfg["patch_size"]
        self.decoder_embed = nn.Linear(cfg["encoder_dim"], dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))
        self.register_buffer("decoder_pos_embed", sincos_2d(dd, grid, True)[None])
        block = {"cross-self": CrossSelfBlock, "cross": CrossBlock, "joint": Block}[cfg["decoder"]]
        self.decoder_blocks = nn.ModuleList([block(dd, cfg["decoder_heads"]) for _ in range(cfg["decoder_depth"])])
        self.decoder_norm = nn.LayerNorm(dd, eps=1e-6)
        self.decoder_pred = nn.Linear(dd, cfg["patch_size"] ** 2 * 3)

    def patchify(self, imgs):
        p = self.cfg["patch_size"]
        n, _, hh, ww = imgs.shape
        h, w = hh // p, ww // p
        x = imgs.reshape(n, 3, h, p, w, p)
        x = torch.einsum("nchpwq->nhwpqc", x)
        return x.reshape(n, h * w, p * p * 3)

    @staticmethod
    def unshuffle(ids_shuffle, len_keep):
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        mask = torch.ones(ids_shuffle.shape, device=ids_shuffle.device)
        mask[:, :len_keep] = 0
        return ids_restore, torch.gather(mask, 1, ids_restore)

    def forward(self, f1, f2, ids2, keep2, ids1=None, keep1=None):
        t1, t2 = self.embed(f1), take(self.embed(f2), ids2[:, :keep2])
        if ids1 is not None:
            t1 = take(t1, ids1[:, :keep1])
        if self.cfg["encoder"] == "joint":
            h = self.encode_tokens(torch.cat([t1, t2], 1))
            n1 = t1.shape[1]
            h1, h2 = torch.cat([h[:, :1], h[:, 1:1 + n1]], 1), torch.cat([h[:, :1], h[:, 1 + n1:]], 1)
        else:
            h1, h2 = self.encode_tokens(t1), self.encode_tokens(t2)
        # f1 memory: its tokens with the decoder positions of the patches they came from.
        pos = self.decoder_pos_embed.expand(f1.shape[0], -1, -1)
        if ids1 is not None:
            pos = torch.cat([pos[:, :1], take(pos[:, 1:], ids1[:, :keep1])], 1)
        mem = self.decoder_embed(h1) + pos
        # f2 stream: visible tokens, mask tokens, unshuffled, positions.
        ids_restore, mask = self.unshuffle(ids2, keep2)
        y = self.decoder_embed(h2)
        tokens = torch.cat([y[:, 1:], self.mask_token.expand(y.shape[0], ids2.shape[1] - keep2, -1)], 1)
        y = torch.cat([y[:, :1], take(tokens, ids_restore)], 1) + self.decoder_pos_embed
        if self.cfg["decoder"] == "joint":
            z = torch.cat([mem, y], 1)
            for blk in self.decoder_blocks:
                z = blk(z)
            y = z[:, mem.shape[1]:]
        else:
            for blk in self.decoder_blocks:
                y = blk(y, mem)
        pred = self.decoder_pred(self.decoder_norm(y))[:, 1:]
        target = self.patchify(f2)
        if self.cfg["norm_pix_loss"]:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        loss = ((pred - target) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum(), pred, mask


