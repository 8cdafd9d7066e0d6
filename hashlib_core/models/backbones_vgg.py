"""VGG19 with batch norm up to fc7: a 4096-d image feature front (DCHN's front for raw images; reusable).

Built from torchvision's ``vgg19_bn(weights=None)`` (nothing is downloaded); pretrained ImageNet weights come
from a local file through :func:`hashlib_core.models.weights.load_weights`. The module keeps torchvision's
parameter names (``features.*``, ``classifier.0.*``, ``classifier.3.*``), so a torchvision VGG19-BN state dict
loads as is; its ``classifier.6.*`` (the 1000-way fc8) is reported as unexpected and ignored.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .weights import LoadReport, load_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FC7_FEATURES = 4096


class VGG19BNFc7(nn.Module):
    """(m, 3, H, W) float images, ImageNet-normalised (H, W >= 32; 224 as trained) -> (m, 4096) fc7 activations
    (after ReLU and dropout, i.e. torchvision's classifier without its last layer)."""

    out_features = FC7_FEATURES

    def __init__(self, weights_path: str | os.PathLike | None = None):
        super().__init__()
        from torchvision.models import vgg19_bn

        vgg = vgg19_bn(weights=None)
        self.features = vgg.features
        self.avgpool = vgg.avgpool
        self.classifier = nn.Sequential(*list(vgg.classifier.children())[:-1])
        self.load_report: LoadReport | None = None
        if weights_path is not None:
            self.load_report = load_weights(self, weights_path)
            if self.load_report.missing or self.load_report.shape_mismatch:
                raise ValueError(f"VGG19-BN weights {weights_path}: not a VGG19-BN state dict "
                                 f"({self.load_report.summary()}; missing e.g. {self.load_report.missing[:5]})")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images: expected (m, 3, H, W), got {tuple(images.shape)}")
        return self.classifier(torch.flatten(self.avgpool(self.features(images)), 1))


def vgg_transform(size: int = 224):
    """PIL RGB image -> (3, size, size) float tensor, resized (no crop, no augmentation: deterministic) and
    ImageNet-normalised, the input :class:`VGG19BNFc7` expects."""
    from torchvision import transforms

    return transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                               transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
