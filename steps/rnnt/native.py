"""The native (pure PyTorch) backend under k2's function names, for backend dispatch."""

from steps.rnnt.losses import rnnt_loss, rnnt_loss_pruned, rnnt_loss_simple, rnnt_loss_smoothed
from steps.rnnt.mutual_information import mutual_information_recursion
from steps.rnnt.pruning import do_rnnt_pruning, get_rnnt_prune_ranges

__all__ = [
    "do_rnnt_pruning",
    "get_rnnt_prune_ranges",
    "mutual_information_recursion",
    "rnnt_loss",
    "rnnt_loss_pruned",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
]
