#!/usr/bin/python3
"""Writes the whole-model SiamMAE fixtures from a PyTorch twin (twins.SiamMAE).

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/make_model_fixtures.py

The model is the "micro" preset (image 32, patch 8, encoder and decoder 16 wide, 2 blocks,
2 heads, mask ratio 0.75), batch 2, computed in float64. Outputs (tests/reference/):
  siammae_micro_weights.safetensors   every parameter and buffer by name (float64)
  siammae_micro_inputs.safetensors    f1, f2 (2, 3, 32, 32) float32; ids_shuffle (f2's mask) and
                                      ids_shuffle_f1 (f1's, for symmetric masking), int64 (2, 16)
  siammae_micro_expected.safetensors  loss and grad.<name> for every parameter (float64);
                                      adamw_losses (10): the loss before each of 10 AdamW steps;
                                      variant.<v>.loss and variant.<v>.grad.<name> (float32) for the
                                      ablations: decoder cross / joint, encoder joint, symmetric and
                                      grid masking (their weights are the subset of the main ones)
The first two files are what `siammae check-grads --config micro` reads.
"""
import os

import torch

from twins import SiamMAE, save_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
META = {"generator": "tests/reference/make_model_fixtures.py", "torch": torch.__version__}

MICRO = {"name": "micro", "image_size": 32, "patch_size": 8, "encoder_dim": 16, "encoder_depth": 2,
         "encoder_heads": 2, "decoder_dim": 16, "decoder_depth": 2, "decoder_heads": 2, "mlp_ratio": 4.0,
         "mask_ratio": 0.75, "symmetric_masking": False, "mask_kind": "random", "decoder": "cross-self",
         "encoder": "siamese", "norm_pix_loss": True}
BATCH, PATCHES, KEEP = 2, 16, 4  # int(16 * (1 - 0.75)) = 4 visible patches

model = SiamMAE(MICRO)
with torch.no_grad():  # values far from any init, so every term of every gradient matters
    for name, p in model.named_parameters():
        scale = 0.3 if p.dim() > 1 else 0.2
        p.copy_(torch.randn(p.shape) * scale + (1.0 if "norm" in name and name.endswith("weight") else 0.0))

# float32-representable inputs, so the float32 file holds exactly what float64 used.
f1 = torch.randn(BATCH, 3, 32, 32).float().double()
f2 = (0.6 * f1 + 0.8 * torch.randn(BATCH, 3, 32, 32)).float().double()  # a related "future" frame
ids_shuffle = torch.argsort(torch.rand(BATCH, PATCHES), dim=1)
ids_shuffle_f1 = torch.argsort(torch.rand(BATCH, PATCHES), dim=1)
state = {k: v.detach().clone() for k, v in model.state_dict().items()}


def loss_and_grads(net, **masks):
    net.zero_grad()
    loss, _, _ = net(f1, f2, **masks)
    loss.backward()
    return loss.detach(), {name: p.grad.detach().clone() for name, p in net.named_parameters()}


loss, grads = loss_and_grads(model, ids2=ids_shuffle, keep2=KEEP)
expected = {"loss": loss}
expected.update({f"grad.{name}": g for name, g in grads.items()})

# The ablations, each loading the subset of the main weights it has.
grid_ids = [i * 4 + j for i in range(4) for j in range(4) if i % 2 == 0 and j % 2 == 0]
grid_ids += [k for k in range(PATCHES) if k not in grid_ids]
variants = {
    "decoder_cross": ({"decoder": "cross"}, {"ids2": ids_shuffle, "keep2": KEEP}),
    "decoder_joint": ({"decoder": "joint"}, {"ids2": ids_shuffle, "keep2": KEEP}),
    "encoder_joint": ({"encoder": "joint"}, {"ids2": ids_shuffle, "keep2": KEEP}),
    "symmetric": ({"symmetric_masking": True},
                  {"ids2": ids_shuffle, "keep2": KEEP, "ids1": ids_shuffle_f1, "keep1": KEEP}),
    "grid": ({"mask_kind": "grid"}, {"ids2": torch.tensor([grid_ids] * BATCH), "keep2": KEEP}),
}
for tag, (changes, masks) in variants.items():
    net = SiamMAE({**MICRO, **changes})
    missing, _ = net.load_state_dict(state, strict=False)
    assert not missing, missing
    v_loss, v_grads = loss_and_grads(net, **masks)
    expected[f"variant.{tag}.loss"] = v_loss.float()
    expected.update({f"variant.{tag}.grad.{name}": g.float() for name, g in v_grads.items()})

# 10 AdamW steps with MAE's parameter groups (no decay for biases, norms and tokens).
decay = [p for n, p in model.named_parameters() if p.dim() > 1 and "token" not in n]
no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1 or "token" in n]
optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=2e-3, betas=(0.9, 0.95), eps=1e-8)
losses = []
for _ in range(10):
    optimizer.zero_grad()
    step_loss, _, _ = model(f1, f2, ids2=ids_shuffle, keep2=KEEP)
    step_loss.backward()
    optimizer.step()
    losses.append(step_loss.item())
expected["adamw_losses"] = torch.tensor(losses)

save_safetensors(os.path.join(HERE, "siammae_micro_weights.safetensors"), state, META)
save_safetensors(os.path.join(HERE, "siammae_micro_inputs.safetensors"),
                 {"f1": f1.float(), "f2": f2.float(), "ids_shuffle": ids_shuffle, "ids_shuffle_f1": ids_shuffle_f1},
                 META)
save_safetensors(os.path.join(HERE, "siammae_micro_expected.safetensors"), expected, META)
print(f"loss {loss.item():.6f}; AdamW losses {losses[0]:.6f} -> {losses[-1]:.6f}")
print("wrote siammae_micro_{weights,inputs,expected}.safetensors")
