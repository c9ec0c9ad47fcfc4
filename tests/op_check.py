"""check_op: one line per case comparing a fastcnn op with torch, forward and every gradient.

    check_op(lambda x, y: x * y, None, [(3, 1), (1, 4)])

builds seeded random float32 inputs of those shapes (or takes given arrays), runs the torch
function in float64 (the reference) and ours on fastcnn Tensors (``our_fn`` None means the
same function, for ops spelled the same in both), then backpropagates the same random
upstream gradient through both and compares each input's gradient. Tolerances default to
float32 rounding over short reductions (atol/rtol 1e-4 on values of order 1); pass larger
ones for long reductions.
"""

from __future__ import annotations

import numpy as np
import torch

import fastcnn


def _inputs(shapes_or_arrays, rng, low, high):
    arrays = []
    for s in shapes_or_arrays:
        if isinstance(s, np.ndarray):
            arrays.append(s)
        else:
            arrays.append(rng.uniform(low, high, size=s).astype(np.float32))
    return arrays


def check_op(torch_fn, our_fn, shapes_or_arrays, *, atol=1e-4, rtol=1e-4, grad=True, low=-2.0, high=2.0,
             seed=0, grad_inputs=None):
    """Assert our_fn(*tensors) matches torch_fn(*tensors) in value and in each input's gradient.

    grad_inputs: indices of the inputs to differentiate (default: every float input).
    Returns (ours, reference) outputs as arrays, for further checks.
    """
    our_fn = our_fn or torch_fn
    rng = np.random.default_rng(seed)
    arrays = _inputs(shapes_or_arrays, rng, low, high)
    if grad_inputs is None:
        grad_inputs = [i for i, a in enumerate(arrays) if a.dtype == np.float32] if grad else []
    ref_in = [torch.tensor(a.astype(np.float64) if a.dtype == np.float32 else a, requires_grad=i in grad_inputs)
              for i, a in enumerate(arrays)]
    our_in = [fastcnn.tensor(a, requires_grad=i in grad_inputs) for i, a in enumerate(arrays)]
    ref_out = torch_fn(*ref_in)
    our_out = our_fn(*our_in)
    if isinstance(ref_out, tuple):
        ref_out, our_out = ref_out[0], our_out[0]
    assert isinstance(our_out, fastcnn.Tensor), f"expected a Tensor, got {type(our_out).__name__}"
    ref_val = ref_out.detach().numpy()
    assert our_out.shape == ref_val.shape, f"shape {our_out.shape} != torch's {ref_val.shape}"
    if ref_val.dtype == np.float64:
        assert our_out.dtype == fastcnn.float32
    np.testing.assert_allclose(our_out.detach().numpy(), ref_val, rtol=rtol, atol=atol, err_msg="forward")
    if grad_inputs:
        upstream = rng.standard_normal(ref_val.shape).astype(np.float32)
        ref_out.backward(torch.tensor(upstream.astype(np.float64)))
        our_out.backward(fastcnn.tensor(upstream))
        for i in grad_inputs:
            ref_g = ref_in[i].grad
            our_g = our_in[i].grad
            if ref_g is None:
                assert our_g is None or not np.any(our_g.numpy()), f"input {i}: unexpected gradient"
                continue
            assert our_g is not None, f"input {i}: no gradient"
            assert our_g.shape == tuple(ref_g.shape)
            np.testing.assert_allclose(our_g.numpy(), ref_g.numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"gradient of input {i}")
    return our_out.detach().numpy(), ref_val
