"""TensorBoard projector export: the log directory that ``tensorboard --logdir`` shows.

``log`` writes and reads every file of the format (see its docstring for the
list), ``sprite`` makes the thumbnails, ``colors`` gives the colours the
projector would give them, ``plot`` draws the picture, and ``staging`` puts a
finished log in place atomically.
"""

from .colors import projector_colors
from .log import (
                  BOOKMARKS_FILE,
                  CONFIG_FILE,
                  EMBEDDING_FILE,
                  METADATA_FILE,
                  MODEL_DIR,
                  PLOT_FILE,
                  SPRITE_FILE,
                  THUMBNAILS_FILE,
                  projector_tensor,
                  read_log,
                  read_metadata,
                  write_bookmarks,
                  write_checkpoint,
                  write_config,
                  write_log,
                  write_loss_scalars,
                  write_metadata,
)
from .plot import write_plot
from .sprite import (
                  MAX_SPRITE_SIDE,
                  concatenate_thumbnails,
                  make_thumbnails,
                  resize_thumbnails,
                  sprite_image,
                  square_side,
                  thumbnails_from_sprite,
)
from .staging import SUMMARY_FILE, check_target, staged_directory, write_summary

__all__ = [
                  "BOOKMARKS_FILE",
                  "CONFIG_FILE",
                  "EMBEDDING_FILE",
                  "MAX_SPRITE_SIDE",
                  "METADATA_FILE",
                  "MODEL_DIR",
                  "PLOT_FILE",
                  "SPRITE_FILE",
                  "SUMMARY_FILE",
                  "THUMBNAILS_FILE",
                  "check_target",
                  "concatenate_thumbnails",
                  "make_thumbnails",
                  "projector_colors",
                  "projector_tensor",
                  "read_log",
                  "read_metadata",
                  "resize_thumbnails",
                  "sprite_image",
                  "square_side",
                  "staged_directory",
                  "thumbnails_from_sprite",
                  "write_bookmarks",
                  "write_checkpoint",
                  "write_config",
                  "write_log",
                  "write_loss_scalars",
                  "write_metadata",
                  "write_plot",
                  "write_summary",
]
