"""Op-level benchmark cases: fastcnn kernels against the NumPy reference and PyTorch CPU.

A Case is cheap to list (name, group, FLOPs); its setup() builds the arrays and returns a
Prepared: one callable per library, each returning the results as a tuple, which the runner
compares (fastcnn against every reference) before anything is timed. Kernels are looked up
through `ops` at call time, so a test can replace one and see the case fail.
Shapes are real layers (batch and sizes say which); quick uses batch 1-8, full larger ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .. import gemm as _gemm
from .. import ops
from . import reference as ref
from ._deps import optional_torch


@dataclass
class Prepared:
    candidates: dict  # library -> callable returning a tuple of results (arrays / tensors)
    rtol: float = 1e-3  # max |ours - ref| <= rtol * max(1, max |ref|), per result
    latency_calls: int = 0  # > 0: also report p50/p99 over this many single calls


@dataclass
class Case:
    name: str
    group: str
    flops: Optional[float]  # floating-point operations per call (2 per multiply-add), None: not defined
    setup: Callable[[], Prepared] = field(repr=False)
    note: str = ""


def _rng(seed):
    return np.random.default_rng(seed)


def _randn(rng, *shape):
    return rng.standard_normal(shape, dtype=np.float32)


# --- SGEMM -------------------------------------------------------------------------------

def gemm_case(name, m, k, n):
    def setup():
        rng = _rng(1)
        a, b = _randn(rng, m, k), _randn(rng, k, n)
        c = {"fastcnn": lambda: (_gemm.matmul(a, b),), "numpy": lambda: (ref.sgemm(a, b),)}
        torch = optional_torch()
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            c["torch"] = lambda: (torch.matmul(ta, tb),)
        return Prepared(c, rtol=1e-4 * np.sqrt(k))
    return Case(f"sgemm {name} {m}x{k}x{n}", "gemm", 2.0 * m * n * k, setup)


# --- convolution -------------------------------------------------------------------------

def _conv_flops(n, c, h, w, k, r, s, stride, padding, groups):
    oh, ow = (h + 2 * padding - r) // stride + 1, (w + 2 * padding - s) // stride + 1
    return 2.0 * n * k * oh * ow * (c // groups) * r * s


def conv_case(name, n, c, h, w, k, r, stride=1, padding=0, groups=1, backward=False):
    """conv2d forward, or forward + backward (data, weight, bias) when backward=True."""
    group = ("depthwise" if groups == c and groups > 1 else "conv") + ("-train" if backward else "")
    flops = _conv_flops(n, c, h, w, k, r, r, stride, padding, groups) * (3 if backward else 1)
    label = (f"conv2d {'fwd+bwd' if backward else 'fwd'} {name} "
             f"{n}x{c}x{h}x{w} k{k} {r}x{r}/{stride} p{padding}" + (f" g{groups}" if groups > 1 else ""))

    def setup():
        rng = _rng(2)
        x, wt, b = _randn(rng, n, c, h, w), _randn(rng, k, c // groups, r, r), _randn(rng, k)
        wt *= np.float32(1.0 / np.sqrt(wt[0].size))
        kw = dict(stride=stride, padding=padding, groups=groups)
        y = ref.conv2d(x, wt, b, **kw)
        gy = _randn(rng, *y.shape)
        if not backward:
            cands = {"fastcnn": lambda: (ops.conv2d(x, wt, b, **kw),),
                     "numpy": lambda: (ref.conv2d(x, wt, b, **kw),)}
        else:
            def ours():
                out = ops.conv2d(x, wt, b, **kw)
                return (out,) + tuple(ops.conv2d_backward(gy, x, wt, **kw))

            def numpy_ref():
                return (ref.conv2d(x, wt, b, **kw),) + ref.conv2d_backward(gy, x, wt, **kw)
            cands = {"fastcnn": ours, "numpy": numpy_ref}
        torch = optional_torch()
        if torch is not None:
            F = torch.nn.functional
            tx, tw, tb, tgy = (torch.from_numpy(a) for a in (x, wt, b, gy))
            if not backward:
                cands["torch"] = lambda: (F.conv2d(tx, tw, tb, **kw),)
            else:
                leaves = [t.clone().requires_grad_() for t in (tx, tw, tb)]

                def torch_ref():
                    out = F.conv2d(*leaves, **kw)
                    return (out.detach(),) + torch.autograd.grad(out, leaves, tgy)
                cands["torch"] = torch_ref
        return Prepared(cands, rtol=2e-4 * np.sqrt(c // groups * r * r * (n * h * w if backward else 1)))
    return Case(label, group, flops, setup)


# --- pooling -----------------------------------------------------------------------------

def pool_case(name, kind, n, c, h, w, kernel, stride, padding=0, backward=False):
    label = f"{kind}_pool2d {'fwd+bwd' if backward else 'fwd'} {name} {n}x{c}x{h}x{w} {kernel}x{kernel}/{stride} p{padding}"

    def setup():
        rng = _rng(3)
        x = _randn(rng, n, c, h, w)
        kw = dict(kernel_size=kernel, stride=stride, padding=padding)
        gy = _randn(rng, *ref.avg_pool2d(x, kernel, stride, padding).shape)
        if kind == "max":
            def ours():
                out, idx = ops.max_pool2d(x, **kw)
                return (out, ops.max_pool2d_backward(gy, idx, x.shape)) if backward else (out,)

            def numpy_ref():
                out = ref.max_pool2d(x, kernel, stride, padding)
                return (out, ref.max_pool2d_backward(gy, x, kernel, stride, padding)) if backward else (out,)
        else:
            def ours():
                out = ops.avg_pool2d(x, **kw)
                return (out, ops.avg_pool2d_backward(gy, x.shape, **kw)) if backward else (out,)

            def numpy_ref():
                out = ref.avg_pool2d(x, kernel, stride, padding)
                return (out, ref.avg_pool2d_backward(gy, x, kernel, stride, padding)) if backward else (out,)
        cands = {"fastcnn": ours, "numpy": numpy_ref}
        torch = optional_torch()
        if torch is not None:
            fn = getattr(torch.nn.functional, f"{kind}_pool2d")
            tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
            leaf = tx.clone().requires_grad_()
            if backward:
                def torch_ref():
                    out = fn(leaf, **kw)
                    return (out.detach(),) + torch.autograd.grad(out, leaf, tgy)
                cands["torch"] = torch_ref
            else:
                cands["torch"] = lambda: (fn(tx, **kw),)
        return Prepared(cands, rtol=1e-5 * kernel * kernel)
    return Case(label, "pool", None, setup)


# --- batch norm, softmax-cross-entropy ---------------------------------------------------

def batch_norm_case(name, n, c, h, w):
    label = f"batch_norm train fwd+bwd {name} {n}x{c}x{h}x{w}"

    def setup():
        rng = _rng(4)
        x, gy = _randn(rng, n, c, h, w), _randn(rng, n, c, h, w)
        weight, bias = _randn(rng, c), _randn(rng, c)

        def ours():
            out, mean, invstd = ops.batch_norm(x, None, None, weight, bias, training=True)
            return (out,) + tuple(ops.batch_norm_backward(gy, x, weight, mean, invstd, True))

        def numpy_ref():
            out, mean, invstd = ref.batch_norm_train(x, weight, bias)
            return (out,) + ref.batch_norm_train_backward(gy, x, weight, mean, invstd)
        cands = {"fastcnn": ours, "numpy": numpy_ref}
        torch = optional_torch()
        if torch is not None:
            leaves = [torch.from_numpy(a).clone().requires_grad_() for a in (x, weight, bias)]
            tgy = torch.from_numpy(gy)

            def torch_ref():
                out = torch.nn.functional.batch_norm(leaves[0], None, None, leaves[1], leaves[2], training=True)
                return (out.detach(),) + torch.autograd.grad(out, leaves, tgy)
            cands["torch"] = torch_ref
        return Prepared(cands, rtol=1e-5 * np.sqrt(n * h * w))
    return Case(label, "norm", None, setup)


def cross_entropy_case(name, n, classes):
    label = f"softmax-cross-entropy fwd+bwd {name} {n}x{classes}"

    def setup():
        rng = _rng(5)
        logits = _randn(rng, n, classes) * np.float32(3)
        target = rng.integers(0, classes, n).astype(np.int64)
        one = np.ones((), dtype=np.float32)

        def ours():
            loss, log_probs, total = ops.cross_entropy(logits, target)
            return (np.asarray(loss), ops.cross_entropy_backward(one, log_probs, target, total_weight=total))

        def numpy_ref():
            loss, log_probs = ref.cross_entropy(logits, target)
            return (np.asarray(loss), ref.cross_entropy_backward(log_probs, target))
        cands = {"fastcnn": ours, "numpy": numpy_ref}
        torch = optional_torch()
        if torch is not None:
            leaf = torch.from_numpy(logits).clone().requires_grad_()
            tt = torch.from_numpy(target)

            def torch_ref():
                loss = torch.nn.functional.cross_entropy(leaf, tt)
                return (loss.detach(),) + torch.autograd.grad(loss, leaf)
            cands["torch"] = torch_ref
        return Prepared(cands, rtol=1e-5 * np.sqrt(classes))
    return Case(label, "loss", None, setup)


# --- the lists ---------------------------------------------------------------------------

def op_cases(mode: str) -> list[Case]:
    if mode == "tiny":  # for the tests: every kind once, small
        return [
            gemm_case("square", 32, 32, 32),
            conv_case("lenet c1", 2, 1, 12, 12, 3, 5),
            conv_case("resnet-like", 2, 4, 9, 9, 8, 3, 2, 1, backward=True),
            conv_case("depthwise", 1, 8, 10, 10, 8, 3, 1, 1, groups=8),
            pool_case("tiny", "max", 2, 3, 9, 9, 3, 2, 1, backward=True),
            pool_case("tiny", "avg", 2, 3, 8, 8, 2, 2),
            batch_norm_case("tiny", 4, 3, 5, 5),
            cross_entropy_case("tiny", 8, 10),
        ]
    full = mode == "full"
    b = 8 if full else 1  # inference-layer batch
    tb = 32 if full else 8  # training-layer batch
    return [
        gemm_case("square", *(1024,) * 3) if full else gemm_case("square", 512, 512, 512),
        gemm_case("conv-shaped (resnet conv2_x, im2col)", 3136, 576, 64),
        gemm_case("conv-shaped (vgg conv4, im2col)", 784, 2304, 512),
        conv_case("lenet5 c1", 64, 1, 32, 32, 6, 5),
        conv_case("lenet5 c3", 64, 6, 14, 14, 16, 5),
        conv_case("alexnet conv2", b, 64, 27, 27, 192, 5, 1, 2),
        conv_case("vgg16 conv3_2", b, 256, 56, 56, 256, 3, 1, 1) if full else
        conv_case("vgg16 conv4_2", b, 512, 28, 28, 512, 3, 1, 1),
        conv_case("resnet18 conv1", b, 3, 224, 224, 64, 7, 2, 3),
        conv_case("resnet18 layer1 3x3", b, 64, 56, 56, 64, 3, 1, 1),
        conv_case("resnet18 layer3 downsample 1x1", b, 128, 28, 28, 256, 1, 2, 0),
        conv_case("mobilenet_v2 pointwise", b, 32, 112, 112, 16, 1),
        conv_case("lenet5 c3", 64, 6, 14, 14, 16, 5, backward=True),
        conv_case("resnet18 layer2 3x3", tb, 128, 28, 28, 128, 3, 1, 1, backward=True),
        conv_case("mobilenet_v2 expand", tb, 24, 56, 56, 144, 1, backward=True),
        conv_case("mobilenet_v2 dw", b, 144, 56, 56, 144, 3, 1, 1, groups=144),
        conv_case("mobilenet_v2 dw s2", b, 96, 112, 112, 96, 3, 2, 1, groups=96),
        conv_case("mobilenet_v2 dw", tb, 192, 28, 28, 192, 3, 1, 1, groups=192, backward=True),
        pool_case("resnet stem", "max", tb, 64, 112, 112, 3, 2, 1),
        pool_case("resnet stem", "max", tb, 64, 112, 112, 3, 2, 1, backward=True),
        pool_case("lenet5", "avg", 64, 6, 28, 28, 2, 2, backward=True),
        batch_norm_case("resnet18 layer1", tb, 64, 56, 56),
        cross_entropy_case("imagenet", 64 if not full else 256, 1000),
    ]
