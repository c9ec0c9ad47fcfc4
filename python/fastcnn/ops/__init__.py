"""The kernel API: NumPy arrays in, NumPy arrays out, one function per kernel.

This is the narrow door between Python and fastcnn._C. Each function normalizes its
arguments the way PyTorch accepts them (ints or pairs, padding strings), checks them,
raising ValueError/TypeError that name the argument and the shapes, allocates outputs,
and calls one kernel. Forward and backward are separate functions; the autograd layer
(nn.functional) pairs them. Inputs must be float32 (labels int64); they are made
C-contiguous here when they are not.
"""

from .activation import *  # noqa: F401,F403
from .clamp import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .conv_packed import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .resize import *  # noqa: F401,F403
