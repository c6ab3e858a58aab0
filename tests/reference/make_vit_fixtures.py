#!/usr/bin/python3
"""Encoder-only ViT checkpoints laid out as timm, DINO and MAE save them, with random weights, and
the patch features each codebase computes for two frames: the fixtures of test_vit_import.

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/make_vit_fixtures.py

Each style saves a .pth in its codebase's layout and converts it with tools/convert_checkpoint.py
(so the converter runs on those layouts too). Outputs (tests/reference/):
  vit_<style>.safetensors           the converted checkpoint, names as stored (prefixes and all)
  vit_<style>_expected.safetensors  frame_a (1, 3, g*p, g*p) on the position table's own grid,
                                    frame_b (1, 3, H, W) on another, non-square grid, and
                                    features_a, features_b (h, w, D): patch tokens after the final
                                    norm, CLS dropped; metadata: heads, position_resize
The styles, and how each resizes its position table for frame_b (from each codebase's code):
  timm  a plain state dict with a classifier head, no qkv bias, MLP ratio 3, a learned table;
        VisionTransformer(dynamic_img_size=True): resample_abs_pos_embed, i.e.
        interpolate(size=(h, w), mode="bicubic", antialias=True); frame_b shrinks the rows
  dino  a DINO training checkpoint {"student": module.backbone.* + module.head.*, "teacher":
        backbone.* + head.*, "args": ...}, the student's weights; a learned table;
        interpolate_pos_encoding, i.e. interpolate(scale_factor=((h + 0.1) / g, (w + 0.1) / g),
        mode="bicubic"); get_intermediate_layers(x, 1)
  mae   MAE's {"model": encoder + decoder + mask_token, "args": ...}, the fixed sin-cos table;
        util/pos_embed.py's interpolate_pos_embed, i.e. interpolate(size=..., mode="bicubic",
        align_corners=False) (MAE resizes square tables; here to (h, w))
  vit_resize.safetensors            the resizes underneath, alone: input (2, 5, 7) -> interpolate(mode=
                                    "bicubic", antialias=True) to (3, 4) and (9, 11), and with
                                    scale_factor=(1.7, 0.6) to (8, 4)
All LayerNorms have eps 1e-6 and GELU is exact, as in the three codebases. The weights are
rounded to float32 (what the checkpoint stores), the features are computed in float64.
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

from twins import Block, Mlp, save_safetensors, sincos_2d

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERTER = os.path.join(HERE, "..", "..", "tools", "convert_checkpoint.py")
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


class Encoder(nn.Module):
    """The encoder the three codebases share: cls_token, pos_embed, patch_embed.proj, blocks, norm."""

    def __init__(self, patch, grid, dim, depth, heads, mlp_ratio=4, qkv_bias=True, sincos=False):
        super().__init__()
        self.patch, self.grid = patch, grid
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.5)
        table = sincos_2d(dim, grid, True)[None] if sincos else torch.randn(1, 1 + grid * grid, dim) * 0.5
        self.pos_embed = nn.Parameter(table, requires_grad=not sincos)
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, patch)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        for block in self.blocks:
            block.mlp = Mlp(dim, int(dim * mlp_ratio))
            block.attn.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        with torch.no_grad():  # non-trivial values everywhere, then rounded to what float32 stores
            for name, p in self.named_parameters():
                if name != "pos_embed" and name != "cls_token":
                    p.copy_(torch.randn(p.shape) * (0.3 if p.dim() > 1 else 0.2) + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
                p.copy_(p.float().double())

    def features(self, images, positions):
        """images (1, 3, H, W) -> (h, w, D); positions(h, w) -> the (1, 1 + h*w, D) table."""
        h, w = images.shape[2] // self.patch, images.shape[3] // self.patch
        x = self.patch_embed.proj(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + positions(h, w)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[0, 1:].reshape(h, w, -1)


def timm_positions(model):
    """timm's resample_abs_pos_embed(pos_embed, (h, w), num_prefix_tokens=1)."""
    def positions(h, w):
        pos = model.pos_embed
        if h * w + 1 == pos.shape[1] and h == w:
            return pos
        g = int(math.sqrt(pos.shape[1] - 1))
        grid = pos[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", antialias=True)
        return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], 1)
    return positions


def dino_positions(model, image):
    """DINO's interpolate_pos_encoding(x, w, h), where its "w, h" are the image's x.shape[2:]."""
    def positions(rows, cols):
        pos = model.pos_embed
        n = pos.shape[1] - 1
        w, h = image.shape[2], image.shape[3]
        if rows * cols == n and w == h:
            return pos
        w0, h0 = w // model.patch + 0.1, h // model.patch + 0.1
        grid = pos[:, 1:].reshape(1, int(math.sqrt(n)), int(math.sqrt(n)), -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=(w0 / math.sqrt(n), h0 / math.sqrt(n)), mode="bicubic")
        assert int(w0) == grid.shape[-2] and int(h0) == grid.shape[-1]
        return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[2])], 1)
    return positions


def mae_positions(model):
    """MAE's interpolate_pos_embed: the patch rows resized by size, the CLS row kept."""
    def positions(h, w):
        pos = model.pos_embed
        if (h, w) == (model.grid, model.grid):
            return pos
        grid = pos[:, 1:].reshape(1, model.grid, model.grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).flatten(1, 2)], 1)
    return positions


def prefixed(state, prefix):
    return {prefix + k: v.float() for k, v in state.items()}


def mae_decoder(dim, decoder_dim, patch, grid):
    """The tensors of MAE's decoder (models_mae.py names): the import must ignore all of them."""
    decoder = {"mask_token": torch.randn(1, 1, decoder_dim), "decoder_pos_embed": sincos_2d(decoder_dim, grid, True)[None],
               "decoder_embed.weight": torch.randn(decoder_dim, dim), "decoder_embed.bias": torch.randn(decoder_dim),
               "decoder_norm.weight": torch.ones(decoder_dim), "decoder_norm.bias": torch.zeros(decoder_dim),
               "decoder_pred.weight": torch.randn(patch * patch * 3, decoder_dim),
               "decoder_pred.bias": torch.randn(patch * patch * 3)}
    decoder.update(prefixed(Block(decoder_dim, 2).state_dict(), "decoder_blocks.0."))
    return {k: v.float() for k, v in decoder.items()}


def write_style(style, model, checkpoint, key, heads, position_resize, frame_b, positions_for, workdir):
    pth = os.path.join(workdir, style + ".pth")
    torch.save(checkpoint, pth)
    out = os.path.join(HERE, f"vit_{style}.safetensors")
    trust = ["--trust"] if "args" in checkpoint else []  # argparse arguments are more than tensors
    command = [sys.executable, CONVERTER, pth, out] + trust + (["--key", key] if key else [])
    subprocess.run(command, check=True)
    size = model.grid * model.patch
    frame_a = torch.randn(1, 3, size, size).float().double()
    frame_b = frame_b.float().double()
    with torch.no_grad():
        features_a = model.features(frame_a, positions_for(frame_a))
        features_b = model.features(frame_b, positions_for(frame_b))
    save_safetensors(os.path.join(HERE, f"vit_{style}_expected.safetensors"),
                     {"frame_a": frame_a.float(), "frame_b": frame_b.float(),
                      "features_a": features_a.float(), "features_b": features_b.float()},
                     {"heads": str(heads), "position_resize": position_resize})
    print(f"vit_{style}: features_a {tuple(features_a.shape)}, features_b {tuple(features_b.shape)}")


def write_resize_cases():
    grid = torch.randn(1, 2, 5, 7).float().double()
    save_safetensors(os.path.join(HERE, "vit_resize.safetensors"), {
        "input": grid[0].float(),
        "antialias_shrunk": F.interpolate(grid, size=(3, 4), mode="bicubic", antialias=True)[0].float(),
        "antialias_grown": F.interpolate(grid, size=(9, 11), mode="bicubic", antialias=True)[0].float(),
        "scale_factor": F.interpolate(grid, scale_factor=(1.7, 0.6), mode="bicubic")[0].float()})


def main():
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    write_resize_cases()
    with tempfile.TemporaryDirectory() as workdir:
        # timm: a plain state dict with a classifier head; table 6x6, frame_b 4x7 cells.
        timm = Encoder(patch=8, grid=6, dim=32, depth=2, heads=4, mlp_ratio=3, qkv_bias=False)
        state = prefixed(timm.state_dict(), "")
        state.update({"head.weight": torch.randn(10, 32).float(), "head.bias": torch.randn(10).float()})
        write_style("timm", timm, state, "", 4, "timm", torch.randn(1, 3, 32, 56),
                    lambda image: timm_positions(timm), workdir)

        # DINO: student and teacher, each with its projection head; table 4x4, frame_b 6x9 cells.
        student = Encoder(patch=8, grid=4, dim=48, depth=2, heads=2)
        teacher = Encoder(patch=8, grid=4, dim=48, depth=2, heads=2)
        head = {"head.mlp.0.weight": torch.randn(64, 48), "head.mlp.0.bias": torch.randn(64),
                "head.last_layer.weight_g": torch.ones(100, 1), "head.last_layer.weight_v": torch.randn(100, 64)}
        checkpoint = {"student": {**prefixed(student.state_dict(), "module.backbone."), **prefixed(head, "module.head.")},
                      "teacher": {**prefixed(teacher.state_dict(), "backbone."), **prefixed(head, "head.")},
                      "epoch": 100, "args": argparse.Namespace(arch="vit_small", patch_size=8)}
        write_style("dino", student, checkpoint, "student", 2, "dino", torch.randn(1, 3, 48, 72),
                    lambda image: dino_positions(student, image), workdir)

        # MAE: encoder and decoder under "model", the fixed sin-cos table; table 4x4, frame_b 3x6 cells.
        mae = Encoder(patch=8, grid=4, dim=32, depth=2, heads=2, sincos=True)
        checkpoint = {"model": {**prefixed(mae.state_dict(), ""), **mae_decoder(32, 16, 8, 4)},
                      "epoch": 399, "args": argparse.Namespace(model="mae_vit_small", norm_pix_loss=True)}
        write_style("mae", mae, checkpoint, "", 2, "bicubic", torch.randn(1, 3, 24, 48),
                    lambda image: mae_positions(mae), workdir)


if __name__ == "__main__":
    main()
