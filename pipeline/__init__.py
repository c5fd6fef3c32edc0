"""fraudgan's pipeline: data, features, splits, experiments, tracking, export and scoring."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
