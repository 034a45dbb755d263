"""A stand-in for a GPU training script: takes the memory it is given (MiB) through
PyTorch on the GPU when there is one, and as resident host memory otherwise.

    python train_gpu.py 600

An address-space limit (`vmem`) breaks CUDA; a resident cap (`--mem`) does not.
"""

import sys
import time

size = int(sys.argv[1]) if len(sys.argv) > 1 else 256
try:
    import torch
except ImportError:
    torch = None

if torch is not None and torch.cuda.is_available():
    weights = torch.empty(size << 20, dtype=torch.uint8, device="cuda")
    device = torch.cuda.get_device_name()
else:
    weights = bytearray(size << 20)  # written to: resident, not only reserved
    device = "CPU"
time.sleep(0.3)
print(f"trained on {device} with {size} MiB")
