"""fraudgan's model code: tabular transformer, conditional GAN, oversamplers, classifier, scorer."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
