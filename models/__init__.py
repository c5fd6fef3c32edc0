"""fraudgan's model code: tabular transformer, conditional GAN, oversamplers, classifier, scorer.

Importing it sets TensorFlow's environment before any Keras import (each only where the user has
not set it): Keras on TensorFlow, TensorFlow's C++ log at warnings, and one thread per TensorFlow
op. The GAN's ops are small (batches of 500 rows, layers of 128 units); run on several threads
each, they wait on one another, while TensorFlow still runs independent ops side by side
(`benchmarks/results/gan_speed.json`, `threads`: training rows/s with one thread per op against
TensorFlow's default, measured in one run). `TF_NUM_INTRAOP_THREADS=0` restores TensorFlow's
default; XGBoost keeps its own threads.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
