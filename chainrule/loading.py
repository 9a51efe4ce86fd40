"""``chainrule.load``: any chainrule model file back into the object that saved it.

A file whose meta holds a "tabular" document is a TabularModel's (chainrule.tabular.saved)
and comes back as one; a file whose meta holds an "image_folder" document is an
ImageFolderModel's (chainrule.folders) and comes back as one; every other file (a
Sequential's, a training checkpoint) comes back as a Sequential, exactly as
``chainrule.saving.load`` reads it. The dispatch lives here, in the shared tier, because
saving (the network tier) may not import the tables above it.
"""

import os

from . import io, saving


def load(path):
    """The model saved at ``path``: a chainrule.tabular.TabularModel for a table model's
    file, a chainrule.folders.ImageFolderModel for an image folder model's, else a
    Sequential (a model file or a training checkpoint). A file that is not a valid
    chainrule model raises ModelFormatError; a missing one FileNotFoundError."""
    meta, arrays = io.read_npz(path)
    if "tabular" in meta:
        from .tabular.model import TabularModel  # pyarrow and the tables only when needed

        return TabularModel.from_parts(meta, arrays, os.fspath(path))
    if "image_folder" in meta:
        from .folders import ImageFolderModel  # Pillow only when needed

        return ImageFolderModel.from_parts(meta, arrays, os.fspath(path))
    return saving.network_from(meta, arrays, os.fspath(path))
