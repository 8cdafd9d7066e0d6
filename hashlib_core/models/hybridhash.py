"""HybridHash network (He & Wei, ICMR 2024): a stage-wise NesT-style backbone whose stages are joined by
interaction modules (local convolution + pooled global attention), followed by a hybrid hash layer.

Shapes for the ``paper`` preset (224 x 224 RGB input, ImageNet-normalised float):

====================  ===========================  ==================================================
part                  output (B = batch)           what it does
====================  ===========================  ==================================================
patch_embed           (B, 128, 56, 56)             conv 4x4 / 4, 3 -> 128
stages.0              (B, 128, 56, 56)             16 blocks of 14x14 tokens, 2 layers, 4 heads
interactions.0        (B, 256, 28, 28)             local 3x3 conv + pooled attention (4x4 tokens),
                                                   channel LayerNorm, 3x3 / 2 max-pool
stages.1              (B, 256, 28, 28)             4 blocks of 14x14 tokens, 2 layers, 8 heads
interactions.1        (B, 512, 14, 14)             as above (2x2 pooled tokens)
stages.2              (B, 512, 14, 14)             1 block of 14x14 tokens, 15 layers, 16 heads
norm                  (B, 512, 14, 14)             LayerNorm over channels
hash_layer            (B, bits), values in (-1, 1) 1x3 then 3x1 conv + pooled attention, max-pool,
                                                   1x1 conv to bits, global average pool, tanh
====================  ===========================  ==================================================

Transformer layers are pre-norm (LayerNorm -> multi-head self-attention -> residual, LayerNorm -> MLP x4 with
GELU -> residual) with stochastic depth rising linearly from 0 to ``drop_path`` over all layers. Attention inside a
stage is local to a block (NesT's "nested" attention); the interaction modules carry information between blocks.

Choices the issue leaves open and we fixed (stated so a reader can change them): the global branch of an
interaction module average-pools to the block grid of the stage it leaves (4x4, then 2x2) and attends with the
next stage's head count; the hash layer's global branch pools to ``hash_pool_grid`` x ``hash_pool_grid`` tokens
(2 by default); no extra normalisation sits inside the global branches. Parameter and buffer names of the
patch embedding, the stages, the local 3x3 convolutions with their LayerNorm and the final norm follow NesT's
layout, so :mod:`hashlib_core.models.nest_weights` can load ImageNet NesT-Base weights into them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HybridHashConfig", "PRESETS", "config_for", "HybridHashNet", "stage_parameter_counts", "BACKBONES",
           "PretrainedFrontConfig", "PretrainedFrontHashNet", "pretrained_front_config"]


@dataclass(frozen=True)
class HybridHashConfig:
    """Size of a :class:`HybridHashNet`. One entry per stage in ``embed_dims``, ``depths``, ``num_heads`` and
    ``num_blocks`` (blocks per stage: a square number; the stage's token grid is split into that many squares)."""

    image_size: int = 224
    patch_size: int = 4
    in_chans: int = 3
    embed_dims: tuple[int, ...] = (128, 256, 512)
    depths: tuple[int, ...] = (2, 2, 15)
    num_heads: tuple[int, ...] = (4, 8, 16)
    num_blocks: tuple[int, ...] = (16, 4, 1)
    mlp_ratio: float = 4.0
    drop_path: float = 0.5
    hash_pool_grid: int = 2
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        for key in ("embed_dims", "depths", "num_heads", "num_blocks"):
            object.__setattr__(self, key, tuple(int(v) for v in getattr(self, key)))
        n = len(self.embed_dims)
        if n < 1 or any(len(getattr(self, k)) != n for k in ("depths", "num_heads", "num_blocks")):
            raise ValueError(f"HybridHashConfig: embed_dims, depths, num_heads and num_blocks need one entry per "
                             f"stage, got {self.embed_dims}, {self.depths}, {self.num_heads}, {self.num_blocks}")
        if self.image_size <= 0 or self.patch_size <= 0 or self.image_size % self.patch_size:
            raise ValueError(f"HybridHashConfig: image_size={self.image_size} must be a positive multiple of "
                             f"patch_size={self.patch_size}")
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"HybridHashConfig: drop_path={self.drop_path} must lie in [0, 1)")
        if self.hash_pool_grid < 1:
            raise ValueError(f"HybridHashConfig: hash_pool_grid={self.hash_pool_grid} must be >= 1")
        for i, (dim, heads, blocks, depth) in enumerate(zip(self.embed_dims, self.num_heads, self.num_blocks,
                                                            self.depths)):
            if heads < 1 or dim % heads:
                raise ValueError(f"HybridHashConfig: stage {i}: embed dim {dim} is not divisible by {heads} heads")
            if depth < 1:
                raise ValueError(f"HybridHashConfig: stage {i}: depth must be >= 1, got {depth}")
            side = math.isqrt(blocks)
            if blocks < 1 or side * side != blocks:
                raise ValueError(f"HybridHashConfig: stage {i}: num_blocks={blocks} is not a square number")
            grid = self.stage_grid(i)
            if grid < 1 or grid % side:
                raise ValueError(f"HybridHashConfig: stage {i}: its {grid}x{grid} token grid (image_size "
                                 f"{self.image_size} / patch {self.patch_size} / 2^{i}) does not split into "
                                 f"{side}x{side} blocks")

    @property
    def num_stages(self) -> int:
        return len(self.embed_dims)

    def stage_grid(self, stage: int) -> int:
        """Side of the token grid of ``stage`` (each interaction module halves it, rounding up like the pool)."""
        grid = self.image_size // self.patch_size
        for _ in range(stage):
            grid = (grid - 1) // 2 + 1  # 3x3 / 2 max-pool with padding 1
        return grid

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, HybridHashConfig] = {
    # The paper's network (NesT-Base widths with 15 layers in the last stage).
    "paper": HybridHashConfig(name="paper"),
    # CPU-sized variants for 32 x 32 inputs (CIFAR-10 at native resolution): the same three stages, interaction
    # modules and hash layer on an 8 x 8 token grid (patch 4): 16 blocks of 2 x 2 tokens, then 4, then 1.
    "small": HybridHashConfig(image_size=32, patch_size=4, embed_dims=(48, 96, 192), depths=(1, 1, 2),
                              num_heads=(2, 4, 8), num_blocks=(16, 4, 1), drop_path=0.1, name="small"),
    "tiny": HybridHashConfig(image_size=32, patch_size=4, embed_dims=(32, 64, 128), depths=(1, 1, 1),
                             num_heads=(2, 4, 4), num_blocks=(16, 4, 1), drop_path=0.0, name="tiny"),
}


def config_for(model_size: str | HybridHashConfig, image_size: int | None = None) -> HybridHashConfig:
    """The preset called ``model_size`` (``"paper"``, ``"small"``, ``"tiny"``), or a given config, optionally with
    another ``image_size`` (which must still split into each stage's blocks)."""
    if isinstance(model_size, HybridHashConfig):
        config = model_size
    elif model_size in PRESETS:
        config = PRESETS[model_size]
    else:
        raise ValueError(f"model_size: unknown preset {model_size!r}; known: {', '.join(PRESETS)}")
    if image_size is not None and int(image_size) != config.image_size:
        config = replace(config, image_size=int(image_size))
    return config


class DropPath(nn.Module):
    """Stochastic depth: zero the whole residual branch of a sample with probability ``p`` (training only),
    scaling the kept ones by 1 / (1 - p)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Attention(nn.Module):
    """Multi-head self-attention over the second-to-last axis: (..., N, C) -> (..., N, C).

    One ``qkv`` projection laid out as (3, heads, head_dim) along its output; the heads' outputs are concatenated
    head_dim-major (channel = d * heads + h) before ``proj``. Both follow NesT's layout, so that NesT's ``qkv`` and
    ``proj`` weights mean the same here."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *lead, n, c = x.shape
        qkv = self.qkv(x.reshape(-1, n, c)).reshape(-1, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)           # each (B', heads, N, head_dim)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.permute(0, 2, 3, 1).reshape(-1, n, c)              # (B', N, head_dim, heads) -> (B', N, C)
        return self.proj(out).reshape(*lead, n, c)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer on (..., N, C) tokens."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def blockify(x: torch.Tensor, blocks_per_side: int) -> torch.Tensor:
    """(B, H, W, C) -> (B, blocks, tokens per block, C); blocks and the tokens inside a block in row-major order."""
    b, h, w, c = x.shape
    s = blocks_per_side
    x = x.reshape(b, s, h // s, s, w // s, c).transpose(2, 3)
    return x.reshape(b, s * s, (h // s) * (w // s), c)


def deblockify(x: torch.Tensor, blocks_per_side: int, block_side: int) -> torch.Tensor:
    """Inverse of :func:`blockify`: (B, blocks, tokens, C) -> (B, H, W, C)."""
    b, _, _, c = x.shape
    s = blocks_per_side
    x = x.reshape(b, s, s, block_side, block_side, c).transpose(2, 3)
    return x.reshape(b, s * block_side, s * block_side, c)


class Stage(nn.Module):
    """A NesT level without its pooling: blockify, add the learned position embedding, transformer layers
    (attention within each block), deblockify. (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, dim: int, depth: int, num_heads: int, num_blocks: int, grid: int, mlp_ratio: float,
                 drop_paths: list[float]):
        super().__init__()
        self.blocks_per_side = math.isqrt(num_blocks)
        self.block_side = grid // self.blocks_per_side
        self.pos_embed = nn.Parameter(torch.zeros(1, num_blocks, self.block_side ** 2, dim))
        self.layers = nn.ModuleList(TransformerLayer(dim, num_heads, mlp_ratio, p) for p in drop_paths[:depth])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = blockify(x.permute(0, 2, 3, 1), self.blocks_per_side) + self.pos_embed
        for layer in self.layers:
            x = layer(x)
        return deblockify(x, self.blocks_per_side, self.block_side).permute(0, 3, 1, 2)


class PooledAttention(nn.Module):
    """Global branch: 1x1 conv, average-pool to a ``grid`` x ``grid`` token grid, learned position embedding,
    multi-head attention over those tokens, bilinear upsampling back to the input's H x W.
    (B, in_dim, H, W) -> (B, out_dim, H, W)."""

    def __init__(self, in_dim: int, out_dim: int, num_heads: int, grid: int):
        super().__init__()
        self.grid = grid
        self.reduce = nn.Conv2d(in_dim, out_dim, kernel_size=1)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid, out_dim))
        self.attn = Attention(out_dim, num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = F.adaptive_avg_pool2d(self.reduce(x), self.grid)          # (B, out, g, g)
        b, c = y.shape[:2]
        tokens = y.flatten(2).transpose(1, 2) + self.pos_embed         # (B, g*g, out)
        tokens = self.attn(tokens)
        y = tokens.transpose(1, 2).reshape(b, c, self.grid, self.grid)
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of (B, C, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class InteractionModule(nn.Module):
    """Between two stages: local 3x3 conv + global pooled attention, summed, channel LayerNorm, 3x3 / 2
    max-pool. (B, in_dim, H, W) -> (B, out_dim, ceil(H/2), ceil(W/2))."""

    def __init__(self, in_dim: int, out_dim: int, num_heads: int, grid: int):
        super().__init__()
        self.local_conv = nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.global_branch = PooledAttention(in_dim, out_dim, num_heads, grid)
        self.norm = ChannelLayerNorm(out_dim, eps=1e-6)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.norm(self.local_conv(x) + self.global_branch(x)))


class HashLayer(nn.Module):
    """Local 1x3 then 3x1 conv + global pooled attention, summed; 3x3 / 2 max-pool; 1x1 conv to ``bits``;
    global average pool; tanh. (B, dim, H, W) -> (B, bits) float32 in (-1, 1)."""

    def __init__(self, dim: int, bits: int, num_heads: int, grid: int):
        super().__init__()
        self.local_conv = nn.Sequential(nn.Conv2d(dim, dim, kernel_size=(1, 3), padding=(0, 1)),
                                        nn.Conv2d(dim, dim, kernel_size=(3, 1), padding=(1, 0)))
        self.global_branch = PooledAttention(dim, dim, num_heads, grid)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.to_bits = nn.Conv2d(dim, bits, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.local_conv(x) + self.global_branch(x))
        x = self.to_bits(x).mean(dim=(2, 3))
        return torch.tanh(x.float())  # float32 so that bf16 rounding cannot saturate to exactly +-1


class PatchEmbed(nn.Module):
    def __init__(self, in_chans: int, dim: int, patch_size: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class HybridHashNet(nn.Module):
    """The HybridHash network: images (B, in_chans, S, S) with S = ``config.image_size`` -> relaxed codes
    (B, bits) in (-1, 1). Take ``sign`` of the output for the binary codes."""

    def __init__(self, config: HybridHashConfig, bits: int):
        super().__init__()
        if not isinstance(bits, int) or bits < 1:
            raise ValueError(f"bits must be a positive integer, got {bits!r}")
        self.config = config
        self.bits = bits
        c = config
        self.patch_embed = PatchEmbed(c.in_chans, c.embed_dims[0], c.patch_size)
        n_layers = sum(c.depths)
        drop_paths = [c.drop_path * i / max(n_layers - 1, 1) for i in range(n_layers)]  # linear 0 -> drop_path
        self.stages = nn.ModuleList()
        self.interactions = nn.ModuleList()
        start = 0
        for i in range(c.num_stages):
            if i > 0:
                self.interactions.append(InteractionModule(c.embed_dims[i - 1], c.embed_dims[i], c.num_heads[i],
                                                           math.isqrt(c.num_blocks[i - 1])))
            self.stages.append(Stage(c.embed_dims[i], c.depths[i], c.num_heads[i], c.num_blocks[i],
                                     c.stage_grid(i), c.mlp_ratio, drop_paths[start:start + c.depths[i]]))
            start += c.depths[i]
        self.norm = ChannelLayerNorm(c.embed_dims[-1], eps=1e-6)
        self.hash_layer = HashLayer(c.embed_dims[-1], bits, c.num_heads[-1], c.hash_pool_grid)
        self.apply(_init_weights)
        for name, param in self.named_parameters():
            if name.endswith("pos_embed"):
                nn.init.trunc_normal_(param, std=0.02)

    def _check_input(self, x: torch.Tensor) -> None:
        c = self.config
        if x.ndim != 4 or x.shape[1] != c.in_chans or x.shape[2] != c.image_size or x.shape[3] != c.image_size:
            raise ValueError(f"HybridHashNet expects images of shape (B, {c.in_chans}, {c.image_size}, "
                             f"{c.image_size}), got {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate map, in order: ``patch_embed``, ``stage0``, ``interaction0``, ``stage1``, ...,
        ``norm`` (each (B, C, H, W))."""
        self._check_input(x)
        out = {}
        x = out["patch_embed"] = self.patch_embed(x)
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = out[f"interaction{i - 1}"] = self.interactions[i - 1](x)
            x = out[f"stage{i}"] = stage(x)
        out["norm"] = self.norm(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        x = self.patch_embed(x)
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.interactions[i - 1](x)
            x = stage(x)
        return self.hash_layer(self.norm(x))


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def stage_parameter_counts(model: "HybridHashNet | PretrainedFrontHashNet") -> dict[str, int]:
    """Number of parameters per part, in forward order (``patch_embed``, ``stage 1``, ``interaction 1->2``, ...,
    ``norm``, ``hash layer``; for a :class:`PretrainedFrontHashNet`: ``front``, ``neck``, ``hash layer``), counted
    from the model itself."""
    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    if isinstance(model, PretrainedFrontHashNet):
        return {"front": sum(p.numel() for p in model.front_map.map_parameters()), "neck": count(model.neck),
                "hash layer": count(model.hash_layer)}
    counts = {"patch_embed": count(model.patch_embed)}
    for i, stage in enumerate(model.stages):
        if i > 0:
            counts[f"interaction {i}->{i + 1}"] = count(model.interactions[i - 1])
        counts[f"stage {i + 1}"] = count(stage)
    counts["norm"] = count(model.norm)
    counts["hash layer"] = count(model.hash_layer)
    return counts


# ---------------------------------------------------------------------------------------------- pretrained front

#: The networks a HybridHash run can hash with (``backbone`` parameter of ``methods.hybridhash``): ``"hybrid"`` is
#: :class:`HybridHashNet`; the others put the same hash layer (:class:`HashLayer`, the widths of a preset) on an
#: ImageNet-pretrained EfficientNet-Lite0 (local weights, :mod:`hashlib_core.models.backbones`), frozen or fine-tuned.
BACKBONES: dict[str, str] = {
    "hybrid": "HybridHash's own hybrid convolution + self-attention network (NesT-style stages)",
    "efficientnet_lite0_frozen": "ImageNet EfficientNet-Lite0, frozen (eval mode, no gradients); only neck and hash "
                                 "layer train",
    "efficientnet_lite0_finetune": "ImageNet EfficientNet-Lite0, fine-tuned with the neck and hash layer",
}
#: Default input side of the pretrained front: CIFAR-10's 32 px images upsampled 2x (bilinear). Its 32x downsampling
#: gives a 2 x 2 map into the hash layer, as the small preset's last stage has on 32 px inputs.
PRETRAINED_IMAGE_SIZE = 64


@dataclass(frozen=True)
class PretrainedFrontConfig:
    """A :class:`PretrainedFrontHashNet`: ``backbone`` (a key of :data:`BACKBONES` other than ``"hybrid"``), the
    input side, whether the front trains, the neck / hash-layer width, heads and pooled grid (a preset's last stage),
    and the input normalisation the front's weights were trained with (per channel, on [0, 1] pixels)."""

    backbone: str = "efficientnet_lite0_frozen"
    image_size: int = PRETRAINED_IMAGE_SIZE
    frozen: bool = True
    front_dim: int = 1280
    dim: int = 192
    num_heads: int = 8
    hash_pool_grid: int = 2
    input_mean: tuple[float, ...] = (127.0 / 255.0,) * 3
    input_std: tuple[float, ...] = (128.0 / 255.0,) * 3
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        if self.backbone not in BACKBONES or self.backbone == "hybrid":
            raise ValueError(f"PretrainedFrontConfig: backbone {self.backbone!r} is not a pretrained front; known: "
                             f"{', '.join(k for k in BACKBONES if k != 'hybrid')}")
        if self.image_size < 32 or self.image_size % 32:
            raise ValueError(f"PretrainedFrontConfig: image_size={self.image_size} must be a positive multiple of 32 "
                             f"(EfficientNet-Lite0 downsamples 32x)")
        if self.dim % self.num_heads:
            raise ValueError(f"PretrainedFrontConfig: dim {self.dim} is not divisible by {self.num_heads} heads")

    def as_dict(self) -> dict:
        return asdict(self)


def pretrained_front_config(backbone: str, model_size: str | HybridHashConfig = "small",
                            image_size: int | None = None) -> PretrainedFrontConfig:
    """The config of ``backbone`` (``"efficientnet_lite0_frozen"`` | ``"efficientnet_lite0_finetune"``) whose neck
    and hash layer take the last stage's width, heads and pooled grid of ``model_size`` (so its hash layer is that
    preset's), at ``image_size`` (None: :data:`PRETRAINED_IMAGE_SIZE`)."""
    if backbone not in BACKBONES or backbone == "hybrid":
        raise ValueError(f"backbone: {backbone!r} is not a pretrained front; known: "
                         f"{', '.join(k for k in BACKBONES if k != 'hybrid')}")
    preset = config_for(model_size)
    return PretrainedFrontConfig(backbone=backbone, image_size=int(image_size or PRETRAINED_IMAGE_SIZE),
                                 frozen=backbone.endswith("_frozen"), dim=preset.embed_dims[-1],
                                 num_heads=preset.num_heads[-1], hash_pool_grid=preset.hash_pool_grid,
                                 name=f"{backbone}+{preset.name} hash layer")


class EfficientNetLite0Map(nn.Module):
    """EfficientNet-Lite0 up to its last 1x1 convolution (after batch norm and ReLU6), without pooling:
    (B, 3, S, S) -> (B, 1280, S/32, S/32). ``net`` keeps :class:`~hashlib_core.models.backbones.EfficientNetLite0`'s
    parameter names (``net._conv_stem.weight``, ...), so its ImageNet file loads into ``net`` unchanged; the
    ImageNet classifier ``net._fc`` is kept only for that and never used (no gradient, not counted)."""

    def __init__(self):
        super().__init__()
        from .backbones import EfficientNetLite0

        self.net = EfficientNetLite0()
        self.net._fc.requires_grad_(False)

    def map_parameters(self) -> list[nn.Parameter]:
        """The parameters the map uses (all but the unused classifier ``net._fc``)."""
        return [p for name, p in self.net.named_parameters() if not name.startswith("_fc.")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net.act(net._bn0(net._conv_stem(x)))
        for block in net._blocks:
            x = block(x)
        return net.act(net._bn1(net._conv_head(x)))


class PretrainedFrontHashNet(nn.Module):
    """HybridHash's hash layer on a pretrained front: images (B, 3, S, S) normalised with ``config.input_mean`` /
    ``input_std`` -> relaxed codes (B, bits) in (-1, 1).

    front (EfficientNet-Lite0 map, (B, 1280, S/32, S/32); wrapped in
    :class:`~hashlib_core.models.backbones.FrozenFeatures` when ``config.frozen``) -> neck (1x1 conv 1280 -> ``dim``
    and channel LayerNorm, the counterpart of :class:`HybridHashNet`'s final ``norm``) -> :class:`HashLayer`
    (``dim``, ``num_heads``, ``hash_pool_grid``). The front starts from random weights: load ImageNet ones with
    :meth:`load_front_weights`."""

    def __init__(self, config: PretrainedFrontConfig, bits: int):
        super().__init__()
        if not isinstance(bits, int) or bits < 1:
            raise ValueError(f"bits must be a positive integer, got {bits!r}")
        from .backbones import FrozenFeatures

        self.config, self.bits = config, bits
        front_map = EfficientNetLite0Map()
        self.front = FrozenFeatures(front_map) if config.frozen else front_map
        self.neck = nn.Sequential(nn.Conv2d(config.front_dim, config.dim, kernel_size=1),
                                  ChannelLayerNorm(config.dim, eps=1e-6))
        self.hash_layer = HashLayer(config.dim, bits, config.num_heads, config.hash_pool_grid)
        self.neck.apply(_init_weights)
        self.hash_layer.apply(_init_weights)
        nn.init.trunc_normal_(self.hash_layer.global_branch.pos_embed, std=0.02)  # as HybridHashNet's pos_embeds

    @property
    def front_map(self) -> EfficientNetLite0Map:
        """The EfficientNet-Lite0 map module (inside the :class:`FrozenFeatures` wrapper when frozen)."""
        return self.front.module if self.config.frozen else self.front

    def load_front_weights(self, path) -> "LoadReport":
        """Load an EfficientNet-Lite0 state dict (every tensor must load) into the front; returns the report."""
        from .weights import load_weights

        return load_weights(self.front_map.net, path, require_all=True)

    def head_parameters(self) -> list[nn.Parameter]:
        """The neck's and hash layer's parameters (those that always train)."""
        return [*self.neck.parameters(), *self.hash_layer.parameters()]

    def front_parameters(self) -> list[nn.Parameter]:
        """The front's parameters that train (none when frozen)."""
        return [p for p in self.front_map.map_parameters() if p.requires_grad]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != c.image_size or x.shape[3] != c.image_size:
            raise ValueError(f"PretrainedFrontHashNet expects images of shape (B, 3, {c.image_size}, "
                             f"{c.image_size}), got {tuple(x.shape)}")
        return self.hash_layer(self.neck(self.front(x)))
