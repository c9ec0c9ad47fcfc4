"""NumPy reference implementations: the baseline `fastcnn bench` always has.

Written the way a NumPy user would: convolution as im2col (a strided view, copied) plus
numpy.matmul (BLAS), its backward as matmuls plus col2im; pooling over strided windows;
batch norm and softmax-cross-entropy as array expressions. float32 throughout (same
arithmetic as the kernels being timed); layout NCHW, weights (K, C/groups, R, S).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def sgemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.matmul(a, b)


def _pad(x: np.ndarray, p: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x


def _windows(xp: np.ndarray, r: int, s: int, stride: int, oh: int, ow: int) -> np.ndarray:
    """View (N, C, OH, OW, R, S) of the padded input's receptive fields."""
    n, c, h, w = xp.shape
    sn, sc, sh, sw = xp.strides
    return as_strided(xp, (n, c, oh, ow, r, s), (sn, sc, sh * stride, sw * stride, sh, sw), writeable=False)


def _out_hw(h, w, r, s, stride, padding):
    return (h + 2 * padding - r) // stride + 1, (w + 2 * padding - s) // stride + 1


def conv2d(x, weight, bias=None, stride=1, padding=0, groups=1):
    """im2col + matmul, one matmul per group over the whole batch."""
    n, c, h, w = x.shape
    k, cg, r, s = weight.shape
    oh, ow = _out_hw(h, w, r, s, stride, padding)
    win = _windows(_pad(x, padding), r, s, stride, oh, ow)
    kg = k // groups
    out = np.empty((n, k, oh, ow), dtype=np.float32)
    for g in range(groups):
        # cols: (N, OH*OW, Cg*R*S)
        cols = win[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1, 4, 5).reshape(n, oh * ow, cg * r * s)
        wg = weight[g * kg:(g + 1) * kg].reshape(kg, cg * r * s)
        out[:, g * kg:(g + 1) * kg] = np.matmul(cols, wg.T).transpose(0, 2, 1).reshape(n, kg, oh, ow)
    if bias is not None:
        out += bias.reshape(1, k, 1, 1)
    return out


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, groups=1):
    """(grad_input, grad_weight, grad_bias): matmuls against im2col, then col2im (scatter-add)."""
    n, c, h, w = x.shape
    k, cg, r, s = weight.shape
    _, _, oh, ow = grad_out.shape
    xp = _pad(x, padding)
    win = _windows(xp, r, s, stride, oh, ow)
    kg = k // groups
    grad_w = np.empty_like(weight)
    gxp = np.zeros(xp.shape, dtype=np.float32)
    for g in range(groups):
        cols = win[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, cg * r * s)
        gy = grad_out[:, g * kg:(g + 1) * kg].transpose(0, 2, 3, 1).reshape(n * oh * ow, kg)
        grad_w[g * kg:(g + 1) * kg] = (gy.T @ cols).reshape(kg, cg, r, s)
        dcols = (gy @ weight[g * kg:(g + 1) * kg].reshape(kg, cg * r * s)).reshape(n, oh, ow, cg, r, s)
        part = gxp[:, g * cg:(g + 1) * cg]
        for i in range(r):
            for j in range(s):
                part[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += dcols[..., i, j].transpose(0, 3, 1, 2)
    grad_x = gxp[:, :, padding:padding + h, padding:padding + w] if padding else gxp
    return np.ascontiguousarray(grad_x), grad_w, grad_out.sum(axis=(0, 2, 3))


def _pool_windows(x, kernel, stride, padding, fill):
    n, c, h, w = x.shape
    oh, ow = _out_hw(h, w, kernel, kernel, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=fill) if padding else x
    return _windows(np.ascontiguousarray(xp), kernel, kernel, stride, oh, ow)


def max_pool2d(x, kernel, stride, padding=0):
    return _pool_windows(x, kernel, stride, padding, -np.inf).max(axis=(4, 5))


def max_pool2d_backward(grad_out, x, kernel, stride, padding=0):
    """Routes each gradient to the first maximum of its window (torch's tie rule)."""
    n, c, h, w = x.shape
    win = _pool_windows(x, kernel, stride, padding, -np.inf)
    oh, ow = win.shape[2:4]
    arg = win.reshape(n, c, oh, ow, kernel * kernel).argmax(axis=4)
    gxp = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=np.float32)
    for i in range(kernel):
        for j in range(kernel):
            hit = arg == i * kernel + j
            gxp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += np.where(hit, grad_out, 0)
    return gxp[:, :, padding:padding + h, padding:padding + w] if padding else gxp


def avg_pool2d(x, kernel, stride, padding=0):
    """count_include_pad=True, as torch's default."""
    return _pool_windows(x, kernel, stride, padding, 0.0).mean(axis=(4, 5), dtype=np.float32)


def avg_pool2d_backward(grad_out, x, kernel, stride, padding=0):
    n, c, h, w = x.shape
    oh, ow = grad_out.shape[2:]
    share = grad_out / np.float32(kernel * kernel)
    gxp = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=np.float32)
    for i in range(kernel):
        for j in range(kernel):
            gxp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += share
    return gxp[:, :, padding:padding + h, padding:padding + w] if padding else gxp


def batch_norm_train(x, weight, bias, eps=1e-5):
    """Training-mode batch norm: (out, mean, invstd) over N, H, W per channel."""
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    invstd = 1.0 / np.sqrt(var + np.float32(eps))
    xhat = (x - mean) * invstd
    out = xhat * weight.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
    return out.astype(np.float32), mean.ravel(), invstd.ravel()


def batch_norm_train_backward(grad_out, x, weight, mean, invstd):
    m = x.shape[0] * x.shape[2] * x.shape[3]
    xhat = (x - mean.reshape(1, -1, 1, 1)) * invstd.reshape(1, -1, 1, 1)
    grad_bias = grad_out.sum(axis=(0, 2, 3))
    grad_weight = (grad_out * xhat).sum(axis=(0, 2, 3))
    scale = (weight * invstd / m).reshape(1, -1, 1, 1)
    grad_x = scale * (m * grad_out - grad_bias.reshape(1, -1, 1, 1) - xhat * grad_weight.reshape(1, -1, 1, 1))
    return grad_x.astype(np.float32), grad_weight, grad_bias


def cross_entropy(logits, target):
    """Mean softmax-cross-entropy: (loss, log_probs)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(len(target)), target].mean()
    return np.float32(loss), log_probs


def cross_entropy_backward(log_probs, target):
    grad = np.exp(log_probs)
    grad[np.arange(len(target)), target] -= 1.0
    return grad / np.float32(len(target))
