"""fastcnn.bench: the benchmark suite behind `fastcnn bench`.

Op-level cases (SGEMM, conv2d forward and forward+backward over real layer shapes,
depthwise, pooling, batch norm, softmax-cross-entropy) and model-level ones (LeNet-5 and
ResNet-18 training steps, ResNet-18 / MobileNetV2 inference) against the NumPy reference
(always there) and PyTorch CPU (when installed). Every case is verified before it is timed.

    payload = fastcnn.bench.run_suite("quick", filter="conv")
    fastcnn.bench.report.print_report(payload)
"""

from . import harness, reference, report  # noqa: F401
from .runner import SCHEMA, all_cases, run_suite, verify  # noqa: F401

__all__ = ["SCHEMA", "all_cases", "harness", "reference", "report", "run_suite", "verify"]
