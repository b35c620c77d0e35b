"""oneshot: the torch machinery every one-shot (weight-sharing) space shares.

Data sources and splits, transforms, SPOS supernet training and standalone retraining,
BatchNorm recalibration, checkpoints, torchrun/DDP, evaluation, recipes and progress,
plus `OneShotWorkbench`, which implements archspace's `Workbench` protocol for any space
plugin that supplies the small torch-side interface in `oneshot.interface`.
Importing this package does not import torch; its modules do.
"""
