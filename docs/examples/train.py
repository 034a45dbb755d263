"""A stand-in for a training script: grows to the size it is given (MiB), then ends.

    python train.py 600

Memory is taken in blocks of 16 MiB and written to, so it is resident, as a real
model's tensors are; a short pause lets conda-limits' sampling see each step.
"""

import sys
import time

size = int(sys.argv[1]) if len(sys.argv) > 1 else 256
blocks = []
for _ in range(size // 16):
    block = bytearray(16 << 20)
    blocks.append(block)
    time.sleep(0.005)
time.sleep(0.3)
print(f"trained with {size} MiB")
