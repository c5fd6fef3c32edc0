"""The conditional tabular GAN: configuration, networks, training step, synthesizer, sampler.

- `config.py`: `CGANConfig`, the hyper-parameters;
- `networks.py`: the generator, the critic (optionally PacGAN) and the auxiliary classifier;
- `wgan.py`: `ConditionalWGAN`, the Keras 3 training step (WGAN-GP), and `BatchTables`;
- `callbacks.py`: loss history, divergence checks and model selection;
- `synthesizer.py`: `CGANSynthesizer`, fit a table / sample rows of a class / save / load;
- `oversampler.py`: `CGANOverSampler`, the imblearn over-sampler, and its `GANCache`.

Importing this package does not import TensorFlow; the synthesizer does, when it is used.
Keras runs on TensorFlow here (`models` sets it before any submodule imports Keras).
"""

from models.gan.config import CGANConfig
from models.gan.oversampler import CGANOverSampler, GANCache

__all__ = ["CGANConfig", "CGANOverSampler", "GANCache"]
