"""fraudgan's pipeline: data, features, splits, experiments, tracking, export and scoring."""

import models  # noqa: F401  (sets TensorFlow's environment before any Keras import)
