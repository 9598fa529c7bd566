"""Training with accelerate: ``python -m train --config configs/tiny.yaml [key=value ...] [--resume]``."""
