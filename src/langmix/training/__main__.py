"""``python -m langmix.training ARGS`` = ``langmix train ARGS``; for launchers that take a module:

torchrun --nproc_per_node 2 -m langmix.training --config configs/train-mlqa-hybrid.yaml
accelerate launch -m langmix.training --config configs/train-mlqa-hybrid.yaml
"""

from __future__ import annotations

import sys

from langmix.cli import main

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "train", *sys.argv[1:]]
    main()
