"""Layers, losses and initialisers with hand-written forward and backward passes."""

from . import init
from .activations import Flatten, Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from .conv import Conv2d
from .dropout import Dropout
from .gradcheck import gradcheck, numerical_grad
from .im2col import output_size as conv_output_size
from .linear import Linear
from .losses import MSELoss, SoftmaxCrossEntropy, accuracy
from .lrn import LocalResponseNorm
from .module import Module, Parameter, Sequential
from .norm import BatchNorm1d, BatchNorm2d
from .pooling import AvgPool2d, MaxPool2d
from .residual import Residual

__all__ = [
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Identity",
    "LeakyReLU",
    "Linear",
    "LocalResponseNorm",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "Parameter",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Tanh",
    "accuracy",
    "conv_output_size",
    "gradcheck",
    "init",
    "numerical_grad",
]
