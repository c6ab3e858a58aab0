#!/usr/bin/python3
"""Writes tests/reference/ops.json: inputs, outputs and gradients of every op, from PyTorch.

Run with Debian's PyTorch:  /usr/bin/python3 tests/reference/make_op_fixtures.py [--only OP,...]
With --only, the cases of the named ops are written (replaced, or added) and every other line of
the committed ops.json is kept as it is: regenerating all of them on another machine changes
the last bits of many values (another CPU, another BLAS), which hides the change in the diff.
The C++ tests (tests/test_ops.cpp, tests/test_grad.cpp) replay each case with the library
and compare. PyTorch is only the oracle here: nothing in the library uses it.

Every case is computed in float64. A case names the op (as in tensor/ops.def), its
attributes, its inputs, the output, a random output gradient and the input gradients.
tests/op_runner.cpp maps each op name + attributes back to a library call; keep the two
in step.
"""
import argparse
import json
import math
import os

import torch

torch.manual_seed(0)
f64 = torch.float64
cases = []


def tensor_json(t):
    if t is None:
        return None
    t = t.detach()
    dtype = {torch.float64: "float64", torch.float32: "float32", torch.int64: "int64"}[t.dtype]
    values = t.reshape(-1).tolist()
    # JSON has no inf/nan: encode them as strings the C++ side understands.
    def enc(v):
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return v
    return {"shape": list(t.shape), "dtype": dtype, "data": [enc(v) for v in values]}


def add(name, op, fn, inputs, attrs=None, differentiable=True, gradcheck=True):
    """fn(*inputs) mirrors what tests/op_runner.cpp does for `op` with `attrs`."""
    attrs = dict(attrs or {})
    inputs = [x.clone().requires_grad_(differentiable and x.is_floating_point()) for x in inputs]
    out = fn(*inputs)
    case = {"name": name, "op": op, "attrs": attrs, "inputs": [tensor_json(x) for x in inputs],
            "output": tensor_json(out), "gradcheck": gradcheck}
    if differentiable:
        grad_out = torch.randn(out.shape, dtype=f64)
        out.backward(grad_out)
        case["grad_output"] = tensor_json(grad_out)
        case["grads"] = [tensor_json(x.grad) if x.requires_grad else None for x in inputs]
    cases.append(case)


def randn(*shape):
    return torch.randn(shape, dtype=f64)


def away_from_zero(*shape, margin=0.1):
    x = randn(*shape)
    return torch.where(x.abs() < margin, x.sign() * margin + x, x)


# ---------------- views ----------------
add("reshape/merge", "reshape", lambda x: x.reshape(6, 4), [randn(2, 3, 4)], {"shape": [6, 4]})
add("reshape/infer", "reshape", lambda x: x.reshape(-1, 2), [randn(3, 4)], {"shape": [-1, 2]})
add("permute/3d", "permute", lambda x: x.permute(2, 0, 1), [randn(2, 3, 4)], {"dims": [2, 0, 1]})
add("transpose/neg", "transpose", lambda x: x.transpose(-1, 0), [randn(2, 3, 4)], {"dim0": -1, "dim1": 0})
add("narrow/mid", "narrow", lambda x: x.narrow(1, 1, 2), [randn(3, 5)], {"dim": 1, "start": 1, "length": 2})
add("expand/broadcast", "expand", lambda x: x.expand(2, 3, 4), [randn(3, 1)], {"shape": [2, 3, 4]})
add("unsqueeze/mid", "unsqueeze", lambda x: x.unsqueeze(1), [randn(3, 4)], {"dim": 1})
add("squeeze/dim", "squeeze", lambda x: x.squeeze(1), [randn(3, 1, 4)], {"dim": 1})
add("squeeze/all", "squeeze", lambda x: x.squeeze(), [randn(1, 3, 1)], {})
# copies
add("contiguous/transposed", "contiguous", lambda x: x.t().contiguous(), [randn(3, 4)])
add("clone/plain", "clone", lambda x: x.clone(), [randn(2, 3)])
# f64 -> f32 -> f64: the round trip rounds to float32; its gradient is the identity.
add("to_dtype/roundtrip", "to_dtype", lambda x: x.float().double(), [randn(2, 3)], {"gradcheck_eps": 1e-3})

# ---------------- unary ----------------
pos = lambda *s: torch.rand(s, dtype=f64) * 2 + 0.2
add("neg/plain", "neg", lambda x: -x, [randn(3, 4)])
add("exp/plain", "exp", torch.exp, [randn(3, 4)])
add("exp/edge", "exp", torch.exp, [torch.tensor([-100.0, 0.0, 30.0, 700.0], dtype=f64)], gradcheck=False)
add("log/plain", "log", torch.log, [pos(3, 4)])
add("sqrt/plain", "sqrt", torch.sqrt, [pos(3, 4)])
add("rsqrt/plain", "rsqrt", torch.rsqrt, [pos(3, 4)])
add("abs/plain", "abs", torch.abs, [away_from_zero(3, 4)])
add("abs/zero", "abs", torch.abs, [torch.tensor([-1.0, 0.0, 2.0], dtype=f64)], gradcheck=False)
add("tanh/plain", "tanh", torch.tanh, [randn(3, 4) * 2])
add("tanh/edge", "tanh", torch.tanh, [torch.tensor([-50.0, -1e-8, 0.0, 25.0], dtype=f64)], gradcheck=False)
add("sigmoid/plain", "sigmoid", torch.sigmoid, [randn(3, 4) * 3])
add("sigmoid/edge", "sigmoid", torch.sigmoid, [torch.tensor([-800.0, -30.0, 0.0, 40.0], dtype=f64)], gradcheck=False)
add("relu/plain", "relu", torch.relu, [away_from_zero(3, 4)])
add("relu/zero", "relu", torch.relu, [torch.tensor([-1.0, 0.0, 1.0], dtype=f64)], gradcheck=False)
add("gelu/plain", "gelu", torch.nn.functional.gelu, [randn(3, 4) * 3])
add("gelu_tanh/plain", "gelu_tanh", lambda x: torch.nn.functional.gelu(x, approximate="tanh"), [randn(3, 4) * 3])
add("pow_scalar/square", "pow_scalar", lambda x: x ** 2, [randn(3, 4)], {"exponent": 2.0})
add("pow_scalar/frac", "pow_scalar", lambda x: x ** 1.5, [pos(3, 4)], {"exponent": 1.5})
clamp_in = torch.tensor([[-2.0, -0.7, -0.3, 0.0], [0.2, 0.45, 0.8, 3.0]], dtype=f64)
add("clamp/plain", "clamp", lambda x: x.clamp(-0.5, 0.5), [clamp_in], {"min": -0.5, "max": 0.5})

# ---------------- binary, broadcasting ----------------
for op, fn in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div),
               ("maximum", torch.maximum), ("minimum", torch.minimum)]:
    b_in = (lambda *s: pos(*s) * torch.where(randn(*s) > 0, 1.0, -1.0)) if op == "div" else randn
    add(f"{op}/same", op, fn, [randn(3, 4), b_in(3, 4)])
    add(f"{op}/broadcast", op, fn, [randn(2, 1, 4), b_in(3, 1)])
    add(f"{op}/scalar", op, fn, [randn(2, 3), b_in()])
tie_a = torch.tensor([1.0, 2.0, 3.0], dtype=f64)
tie_b = torch.tensor([1.0, 0.0, 5.0], dtype=f64)
add("maximum/tie", "maximum", torch.maximum, [tie_a, tie_b], gradcheck=False)
add("minimum/tie", "minimum", torch.minimum, [tie_a, tie_b], gradcheck=False)
add("pow/plain", "pow", torch.pow, [pos(3, 4), randn(3, 4)])
add("pow/broadcast", "pow", torch.pow, [pos(2, 3), randn(3)])
add("pow/zero_base", "pow", torch.pow, [torch.tensor([0.0, 0.0, 2.0], dtype=f64),
                                        torch.tensor([2.0, 0.0, 0.5], dtype=f64)], gradcheck=False)
cond = (randn(3, 4) > 0).double()
add("where/broadcast", "where", lambda c, a, b: torch.where(c != 0, a, b), [cond, randn(3, 4), randn(4)])
for op, fn in [("eq", torch.eq), ("ne", torch.ne), ("lt", torch.lt), ("le", torch.le), ("gt", torch.gt),
               ("ge", torch.ge)]:
    a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=f64)
    b = torch.tensor([2.0, 2.0, 7.0], dtype=f64)
    add(f"{op}/broadcast", op, lambda x, y, fn=fn: fn(x, y).double(), [a, b], differentiable=False)

# ---------------- reductions ----------------
add("sum/all", "sum", lambda x: x.sum(), [randn(3, 4)], {"dims": []})
add("sum/dims_keep", "sum", lambda x: x.sum(dim=(0, 2), keepdim=True), [randn(2, 3, 4)],
    {"dims": [0, 2], "keepdim": True})
add("sum/neg_dim", "sum", lambda x: x.sum(dim=-1), [randn(2, 3, 4)], {"dims": [-1]})
add("mean/dims", "mean", lambda x: x.mean(dim=(1,)), [randn(2, 3, 4)], {"dims": [1]})
add("mean/all", "mean", lambda x: x.mean(), [randn(5, 2)], {"dims": []})
add("var/unbiased", "var", lambda x: x.var(dim=(-1,), unbiased=True), [randn(3, 5)],
    {"dims": [-1], "unbiased": True})
add("var/biased_keep", "var", lambda x: x.var(dim=(0, 2), unbiased=False, keepdim=True), [randn(2, 3, 4)],
    {"dims": [0, 2], "unbiased": False, "keepdim": True})
add("max/dim", "max", lambda x: x.max(dim=1).values, [randn(3, 5)], {"dim": 1})
add("max/keepdim", "max", lambda x: x.max(dim=0, keepdim=True).values, [randn(4, 3)], {"dim": 0, "keepdim": True})
add("min/dim", "min", lambda x: x.min(dim=-1).values, [randn(3, 5)], {"dim": -1})
add("argmax/dim", "argmax", lambda x: x.argmax(dim=1), [randn(3, 5)], {"dim": 1}, differentiable=False)
add("argmax/ties", "argmax", lambda x: x.argmax(dim=1, keepdim=True),
    [torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 1.0]], dtype=f64)], {"dim": 1, "keepdim": True}, differentiable=False)
add("argmin/dim", "argmin", lambda x: x.argmin(dim=0), [randn(3, 5)], {"dim": 0}, differentiable=False)

# ---------------- linear algebra and fused ----------------
add("matmul/2d", "matmul", torch.matmul, [randn(3, 4), randn(4, 5)])
add("matmul/batched_broadcast", "matmul", torch.matmul, [randn(2, 1, 3, 4), randn(5, 4, 2)])
add("matmul/vector_left", "matmul", torch.matmul, [randn(4), randn(2, 4, 3)])
add("matmul/vector_right", "matmul", torch.matmul, [randn(3, 4), randn(4)])
add("matmul/transposed_b", "matmul", lambda a, b: a @ b.transpose(-1, -2), [randn(2, 3, 4), randn(2, 5, 4)],
    {"transpose_b": True})
add("softmax/last", "softmax", lambda x: torch.softmax(x, -1), [randn(3, 5) * 3], {"dim": -1})
add("softmax/mid", "softmax", lambda x: torch.softmax(x, 1), [randn(2, 4, 3)], {"dim": 1})
add("softmax/large", "softmax", lambda x: torch.softmax(x, -1),
    [torch.tensor([[1000.0, 1001.0, 999.0], [-1000.0, 0.0, 1000.0]], dtype=f64)], {"dim": -1}, gradcheck=False)
add("log_softmax/last", "log_softmax", lambda x: torch.log_softmax(x, -1), [randn(3, 5) * 3], {"dim": -1})
add("log_softmax/first", "log_softmax", lambda x: torch.log_softmax(x, 0), [randn(4, 3)], {"dim": 0})
add("layer_norm/affine", "layer_norm",
    lambda x, w, b: torch.nn.functional.layer_norm(x, (6,), w, b, 1e-6), [randn(2, 3, 6), randn(6), randn(6)],
    {"normalized_shape": [6], "eps": 1e-6})
add("layer_norm/two_dims", "layer_norm",
    lambda x, w, b: torch.nn.functional.layer_norm(x, (3, 4), w, b, 1e-5), [randn(2, 3, 4) * 5 + 2, randn(3, 4),
                                                                           randn(3, 4)],
    {"normalized_shape": [3, 4], "eps": 1e-5})
add("layer_norm/plain", "layer_norm", lambda x: torch.nn.functional.layer_norm(x, (5,), None, None, 1e-5),
    [randn(4, 5)], {"normalized_shape": [5], "eps": 1e-5})

def attention(q, k, v, scale=None):
    scale = scale if scale is not None else q.shape[-1] ** -0.5
    return torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v


add("scaled_dot_product_attention/heads", "scaled_dot_product_attention", attention,
    [randn(2, 3, 5, 4), randn(2, 3, 6, 4), randn(2, 3, 6, 3)])
add("scaled_dot_product_attention/scale", "scaled_dot_product_attention", lambda q, k, v: attention(q, k, v, 0.3),
    [randn(4, 8), randn(7, 8), randn(7, 2)], {"scale": 0.3})


def heads_of(x, heads):  # (B, N, C) -> (B, H, N, D)
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).transpose(1, 2)


def merged(x):  # (B, H, N, D) -> (B, N, H * D)
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def packed_self_attention(qkv, heads):  # multi_head_attention(qkv, heads)
    q, k, v = (heads_of(part, heads) for part in qkv.chunk(3, -1))
    return merged(attention(q, k, v))


def packed_cross_attention(q, kv, heads):  # multi_head_attention(q, kv, heads)
    k, v = (heads_of(part, heads) for part in kv.chunk(2, -1))
    return merged(attention(heads_of(q, heads), k, v))


add("scaled_dot_product_attention/packed_qkv", "scaled_dot_product_attention",
    lambda qkv: packed_self_attention(qkv, 2), [randn(2, 5, 3 * 6)], {"heads": 2})
add("scaled_dot_product_attention/packed_segments", "scaled_dot_product_attention",
    lambda qkv: torch.cat([packed_self_attention(part, 2) for part in qkv.split([3, 1, 4], 1)], 1),
    [randn(2, 8, 3 * 4)], {"heads": 2, "segments": [3, 1, 4]})
add("scaled_dot_product_attention/packed_kv", "scaled_dot_product_attention",
    lambda q, kv: packed_cross_attention(q, kv, 3), [randn(2, 4, 9), randn(2, 7, 2 * 9)], {"heads": 3})

# ---------------- joining and indexing ----------------
add("cat/dim1", "cat", lambda a, b, c: torch.cat([a, b, c], 1), [randn(2, 1, 3), randn(2, 4, 3), randn(2, 2, 3)],
    {"dim": 1})
add("stack/dim_last", "stack", lambda a, b: torch.stack([a, b], -1), [randn(2, 3), randn(2, 3)], {"dim": -1})
# split: the runner returns cat(part_i * (i + 1)), which checks every part and its gradient.
add("split/uneven", "split", lambda x: torch.cat([p * (i + 1) for i, p in enumerate(x.split(2, 1))], 1),
    [randn(3, 5)], {"split_size": 2, "dim": 1})
gather_index = torch.tensor([[0, 2, 2], [1, 0, 3]], dtype=torch.int64)
add("gather/dim1", "gather", lambda x, i: torch.gather(x, 1, i), [randn(3, 4), gather_index], {"dim": 1})
add("gather/dim0_smaller", "gather", lambda x, i: torch.gather(x, 0, i),
    [randn(4, 5), torch.tensor([[3, 0, 1], [3, 3, 2]], dtype=torch.int64)], {"dim": 0})
add("index_select/dim0", "index_select", lambda x, i: torch.index_select(x, 0, i),
    [randn(4, 3), torch.tensor([3, 0, 0, 2], dtype=torch.int64)], {"dim": 0})
add("index_select/dim1", "index_select", lambda x, i: torch.index_select(x, 1, i),
    [randn(2, 5, 3), torch.tensor([4, 1], dtype=torch.int64)], {"dim": 1})
add("scatter_add/duplicates", "scatter_add", lambda s, i, src: torch.scatter_add(s, 0, i, src),
    [randn(3, 4), torch.tensor([[0, 1, 2, 0], [0, 2, 2, 1]], dtype=torch.int64), randn(2, 4)], {"dim": 0})
add("argsort/ascending", "argsort", lambda x: torch.argsort(x, dim=-1, stable=True),
    [torch.tensor([[3.0, 1.0, 2.0, 1.0], [0.5, -1.0, 0.5, 7.0]], dtype=f64)], {"dim": -1, "descending": False},
    differentiable=False)
add("argsort/descending_dim0", "argsort", lambda x: torch.argsort(x, dim=0, descending=True, stable=True),
    [randn(4, 3)], {"dim": 0, "descending": True}, differentiable=False)

# ---------------- added later ----------------
# New cases go here, after all the others: the cases above then draw the same random numbers
# as before, so their committed values stay valid.

# RMSNorm (docs/adding-a-layer.md). Debian's PyTorch 1.13 has no F.rms_norm (2.4 added it):
# the definition, written out, is the oracle.
def rms_norm(x, normalized_shape, weight, eps):
    dims = tuple(range(-len(normalized_shape), 0))
    y = x * torch.rsqrt(x.pow(2).mean(dim=dims, keepdim=True) + eps)
    return y * weight if weight is not None else y


add("rms_norm/weight", "rms_norm", lambda x, w: rms_norm(x, (6,), w, 1e-6), [randn(2, 3, 6), randn(6)],
    {"normalized_shape": [6], "eps": 1e-6})
add("rms_norm/two_dims", "rms_norm", lambda x, w: rms_norm(x, (3, 4), w, 1e-5), [randn(2, 3, 4) * 5 + 2, randn(3, 4)],
    {"normalized_shape": [3, 4], "eps": 1e-5})
add("rms_norm/plain", "rms_norm", lambda x: rms_norm(x, (5,), None, 1e-5), [randn(4, 5)],
    {"normalized_shape": [5], "eps": 1e-5})

add("linear/bias", "linear", torch.nn.functional.linear, [randn(2, 3, 4), randn(5, 4), randn(5)])
add("linear/no_bias", "linear", torch.nn.functional.linear, [randn(3, 4), randn(5, 4)])
add("linear/strided_input", "linear", lambda x, w, b: torch.nn.functional.linear(x.transpose(0, 1), w, b),
    [randn(4, 3), randn(2, 4), randn(2)], {"transpose_input": True})

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--only", help="comma-separated op names: rewrite only their cases, keep the other lines")
args = parser.parse_args()

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops.json")
lines = {case["name"]: json.dumps(case) for case in cases}  # one case per line: a change shows as its lines
header = '{"generator": "tests/reference/make_op_fixtures.py", "torch": %s, "cases": [\n' % json.dumps(torch.__version__)
if args.only:
    only = set(args.only.split(","))
    unknown = only - {case["op"] for case in cases}
    if unknown:
        raise SystemExit(f"--only: no cases for {sorted(unknown)}")
    with open(path) as f:
        committed = f.read().split("\n")
    header = committed[0] + "\n"
    kept = {json.loads(line.rstrip(","))["name"]: line.rstrip(",") for line in committed[1:] if line.startswith("{")}
    for case in cases:
        if case["op"] not in only:
            if case["name"] not in kept:
                raise SystemExit(f"--only: case {case['name']} is not in {path}; regenerate all cases")
            lines[case["name"]] = kept[case["name"]]
with open(path, "w") as f:
    f.write(header)
    f.write(",\n".join(lines[case["name"]] for case in cases))
    f.write("\n]}\n")
print(f"wrote {len(cases)} cases to {path}" + (f" (new: {args.only}; the others as committed)" if args.only else ""))
