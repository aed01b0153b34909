"""Tests of the training package (`/usr/bin/python3 -m pytest training/tests`; npm test runs them)."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
torch.set_num_threads(2)
