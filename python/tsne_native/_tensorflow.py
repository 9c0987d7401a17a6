"""TensorFlow and Keras, imported once for every module that uses them, C++ logging quiet.

The log level must be set before TensorFlow loads; the user's own setting wins.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

__all__ = ["keras", "tf"]
