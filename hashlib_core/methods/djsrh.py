"""DJSRH run entry point: ``run()`` trains, encodes and evaluates once; ``notebooks/djsrh.ipynb`` and the CLI call it.

DJSRH (Su, Zhong, Zhang, "Deep Joint-Semantics Reconstructing Hashing for Large-Scale Unsupervised Cross-Modal
Retrieval", ICCV 2019) is unsupervised: per batch it builds a joint-semantics affinity from frozen image and text
features (:func:`hashlib_core.losses.djsrh.joint_semantics_affinity`) and trains one hashing network per view so
that inner products of their codes reconstruct it. Labels are used only to evaluate.

What a run does, in order:

1. seed, resolve the device, load the dataset with its ``djsrh`` split where the data layer defines one
   (Wikipedia: query = 693 test pairs, retrieval = train = 2,173 training pairs);
2. image features: the dataset's ``image`` view when it holds features, or a frozen pretrained front
   (``backbone``: AlexNet fc7 as in the paper, or EfficientNet-Lite0) applied once to the raw images;
3. two input conventions of ours (both switchable, both chosen on held-out *training* pairs, see below):
   network inputs are z-scored with the training rows' mean and standard deviation (``input_norm="zscore"``;
   ``"none"`` feeds raw features as the original code does), and the features the affinity is built from are
   centred with the training mean before the cosine (``center_features=True``; ``False`` is the paper's
   affinity on raw features);
4. SGD (momentum 0.9, weight decay 5e-4, batch 32, incomplete last batch dropped) for the profile's epochs,
   codes ``tanh(alpha h)`` with ``alpha = sqrt(epoch + 1)``; on the CPU with one intra-op thread (batch-32 MLPs
   gain nothing from a thread pool, and on a shared machine a pool can make each step many times slower);
   a third convention of ours, weight averaging (``ema_decay``): an exponential moving average of both networks'
   weights, updated after every SGD step, replaces the last iterate at the end of training (Polyak averaging; the
   affinity and the loss are the paper's);
5. binary codes ``sign(h)`` of the query and retrieval items of both views;
6. baselines on the same split: CCA fitted on the training pairs + one seeded random projection + sign, and
   random codes;
7. :func:`hashlib_core.records.finish_run`: mAP@50 with the ``deephash`` protocol (as the paper reports) for
   image->text and text->image, plus mAP@all (``deephash`` and ``dchn``) of the same codes and the baselines'
   numbers in ``also``; the baselines' precision@N curves go to ``baselines.json`` in the run folder.

Why the two conventions: with the paper's recipe on Wikipedia's features (128-d SIFT histograms with entries of
about 0.01, 10-d LDA proportions) the raw inputs barely move a default-initialised 4096-unit layer, and the
cosine of non-negative histograms is dominated by their common mean, so every pair looks alike. Both were chosen
on folds of the *training* set (500 of the 2,173 pairs as queries against the other 1,673; the test queries were
never looked at): z-scoring raised text->image mAP@50 far above the CCA baseline, and centring then lifted
image->text above it (without centring it was level with CCA). The default grid also runs the conventions
switched off (labels ``no-weight-averaging``, ``uncentred-affinity``, and ``authors-recipe`` with all three off)
so the book shows their effect on the test queries.

Recipes (``recipe``, recorded as ``settings["recipe"]`` with every convention in force in
``settings["conventions"]``): ``"hashbook"`` applies the three conventions above; ``"authors"`` does what the
authors' released code does: raw network inputs (``input_norm="none"``), the affinity on raw features
(``center_features=False``) and the last SGD iterate (``ema_decay=0``). ``recipe=None`` is the profile's: the
``paper`` profile runs the authors' recipe, ``default`` and ``smoke`` ours. Each of the three stays a parameter that
overrides the recipe (``None`` = the recipe's). Everything else was found equal to the authors' code (loss,
affinity formula, alpha schedule, SGD settings, batch 32 with the incomplete batch dropped, learning rates, lambda,
beta, eta, mu, epochs, 4096 units), with three exceptions that are kept in both recipes: the authors hard-code
``torch.manual_seed(1)`` (here the run seed seeds initialisation and batch order, so seeds can be compared; the
random streams differ anyway), their binary code of an exact zero is 0 (here +1; no zero was ever met), and they
build ``S`` with autograd on (here without: no gradient reaches the hashing networks either way). Their image
network on Wikipedia is a fine-tuned AlexNet on the raw images; on the features here both recipes use the MLP.

Why weight averaging: in an exploration on training folds of Wikipedia, the last iterate's image->text mAP@50 peaks early and then
drifts down while text->image still climbs, and it moves by about 0.01 from one epoch to the next.
``ema_decay=None`` means 0.999 (a memory of about 1,000 steps, some 20 epochs on Wikipedia) when the image view
holds features, as on Wikipedia, and no averaging on raw images (not measured there); ``0.0`` switches it off.
Chosen with ``studies/djsrh_training_folds.py`` on validation folds of the training pairs (500 held out as
queries, :mod:`hashlib_core.data.validation`), default profile; the committed output
(``studies/results/djsrh_weight_averaging*.md``) gives, at 32 bits over 6 folds x 3 seeds, paired differences to
the last iterate of +0.009 +- 0.002 image->text mAP@50 and -0.003 +- 0.001 text->image (mean +- standard error);
at 128 bits (3 folds x 3 seeds) +0.016 +- 0.004 and -0.004 +- 0.003. An earlier exploration on such folds found that dropout in the image MLP and a
square-root (Hellinger) transform of the SIFT histograms did not help.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..baselines import CCAHash, random_codes
from ..losses.djsrh import ALPHA_SCHEDULES, JointSemanticsReconstructionLoss, alpha_for_epoch, \
    joint_semantics_affinity
from ..models.djsrh import DEFAULT_HIDDEN, FeatureHashNet, LinearHashNet, TextHashNet, binarize
from ..records import finish_run
from ..records.run import claim_out_dir, run_identity
from ..train import (Stopwatch, check_finite, describe_device, progress, resolve_device, seed_everything,
                     torch_generator, torch_threads)
from ..train.recipes import resolve_recipe
from . import check_profile_and_parameters

METHOD = "djsrh"

#: Method parameters (the notebook's ``parameters`` cell); ``None`` = the paper's setting for the dataset.
PARAMETERS = {
    "beta": None, "eta": None, "mu": None, "lambda1": None, "lambda2": None, "alpha_schedule": "sqrt",
    "lr_image": None, "lr_text": None, "batch_size": None, "hidden": None, "input_norm": None,
    "center_features": None, "ema_decay": None, "recipe": None,
    "image_head": None, "backbone": None, "backbone_weights": None, "data_options": None,
}

#: one line per parameter of :data:`PARAMETERS` (``python -m hashlib_core run djsrh --help`` prints them)
PARAMETER_HELP = {
    "beta": "weight in [0, 1] of the image affinity S_I against the text affinity S_T (None = the paper's)",
    "eta": "weight in [0, 1] of the second-order (neighbours of neighbours) affinity term (None = the paper's)",
    "mu": "scale (> 0) of the reconstructed affinity target S (None = the paper's)",
    "lambda1": "weight (>= 0) of the image-image reconstruction term (None = the paper's lambda)",
    "lambda2": "weight (>= 0) of the text-text reconstruction term (None = the paper's lambda)",
    "alpha_schedule": "codes tanh(alpha h) during training: 'sqrt' (alpha = sqrt(epoch + 1)) or 'constant' (1)",
    "lr_image": "SGD learning rate of the image network (None = the paper's for the dataset)",
    "lr_text": "SGD learning rate of the text network (None = the paper's for the dataset)",
    "batch_size": "training batch size in pairs (None = the paper's 32)",
    "hidden": "hidden units of the hashing MLPs (None = the profile's)",
    "input_norm": "network inputs: 'zscore' (training mean / std, ours) or 'none' (raw, as the original code); "
                  "None = the recipe's",
    "center_features": "centre the affinity's features with the training mean before the cosine (ours; False = "
                       "the paper's); None = the recipe's",
    "ema_decay": "weight averaging of the SGD iterates, in [0, 1) (0 = last iterate; None = the recipe's: 0.999 "
                 "on feature views and off on raw images for hashbook, 0 for authors)",
    "recipe": "'authors' (raw inputs, raw affinity features, last iterate, as the authors' code) or 'hashbook' "
              "(our three conventions); None = the profile's ('authors' for paper, 'hashbook' otherwise)",
    "image_head": "image network on top of the features: 'mlp' or 'linear' (None = linear on a pretrained "
                  "front, else mlp)",
    "backbone": "frozen front for raw images: 'alexnet' (fc7, the paper's) or 'efficientnet_lite0' (None = "
                "AlexNet when its weights are present)",
    "backbone_weights": "local state-dict file of the backbone (None = the usual local copy)",
    "data_options": "dict of extra load_dataset() options, e.g. {\"subset\": 2000} (None = none)",
}

#: The paper's per-dataset settings (ICCV 2019, Sec. 4 and the authors' settings files). ``lambda`` is used for
#: both lambda1 and lambda2.
PAPER_SETTINGS = {
    "wikipedia": {"beta": 0.3, "lambda": 0.3, "epochs": 200, "lr_image": 0.01, "lr_text": 0.01},
    "mirflickr25k": {"beta": 0.9, "lambda": 0.1, "epochs": 80, "lr_image": 0.001, "lr_text": 0.01},
    "nus_wide_tc10": {"beta": 0.6, "lambda": 0.1, "epochs": 80, "lr_image": 0.001, "lr_text": 0.01},
}
PAPER_COMMON = {"eta": 0.4, "mu": 1.5, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 32,
                "hidden": DEFAULT_HIDDEN}
#: The paper's settings used for a dataset it did not run (the MIRFLICKR ones, its first benchmark).
FALLBACK_DATASET = "mirflickr25k"
#: Datasets that are a paper dataset's items with other features: they take that dataset's settings.
SAME_ITEMS = {"wikipedia_roph": "wikipedia"}

#: What each profile changes relative to the paper's setting.
PROFILES = {
    "smoke": {"epochs": 2, "hidden": 256, "subset": 1000,
              "note": "2 epochs, 256 hidden units, a seeded stratified subset of 1,000 rows (when the set is "
                      "larger): seconds, checks the plumbing only"},
    "default": {"epochs": {"wikipedia": 50, "*": 20}, "hidden": DEFAULT_HIDDEN,
                "note": "the paper's networks and hyper-parameters with fewer epochs (Wikipedia 50 of 200, other "
                        "sets 20 of 80): about a minute per run on a laptop CPU"},
    "paper": {"note": "the paper's settings (epochs, learning rates, beta, lambda, eta, mu, 4096 hidden units), "
                      "with the authors' recipe unless a run names another"},
}

#: The paper's Table 1 ablation as (label, paper method name, row description, params); run on Wikipedia here.
ABLATION = [
    ("ablation-1-S_I", "DJSRH-1", "S = S_I", {"beta": 1.0, "eta": 0.0, "mu": 1.0, "lambda1": 0.0, "lambda2": 0.0}),
    ("ablation-2-S_T", "DJSRH-2", "S = S_T", {"beta": 0.0, "eta": 0.0, "mu": 1.0, "lambda1": 0.0, "lambda2": 0.0}),
    ("ablation-3-beta-mix", "DJSRH-3", "beta S_I + (1 - beta) S_T",
     {"eta": 0.0, "mu": 1.0, "lambda1": 0.0, "lambda2": 0.0}),
    ("ablation-4-eta", "DJSRH-4", "+ eta = 0.4", {"mu": 1.0, "lambda1": 0.0, "lambda2": 0.0}),
    ("ablation-5-mu", "DJSRH-5", "+ mu = 1.5", {"lambda1": 0.0, "lambda2": 0.0}),
    ("ablation-6-lambda", "DJSRH", "+ lambda1 = lambda2 (paper value)", {}),
    ("ablation-7-alpha1", "DJSRH-6", "- (alpha = 1)", {"alpha_schedule": "constant"}),
]


def _ablation_specs(bits: int) -> list[dict]:
    return [{"dataset": "wikipedia", "bits": bits, "seed": 0, "label": label, "params": dict(params)}
            for label, _, _, params in ABLATION]


#: Our conventions switched off one at a time from our recipe (see the module docstring), at 32 bits: weight
#: averaging alone, the centring alone.
_CONVENTION_SPECS = [
    {"dataset": "wikipedia", "bits": 32, "seed": 0, "label": "no-weight-averaging",
     "params": {"recipe": "hashbook", "ema_decay": 0.0}},
    {"dataset": "wikipedia", "bits": 32, "seed": 0, "label": "uncentred-affinity",
     "params": {"recipe": "hashbook", "center_features": False}},
]


def _main_specs(params: dict, label: str | None = None, dataset: str = "wikipedia") -> list[dict]:
    """16-128 bits at seed 0 and 32 bits at seeds 1 and 2 with ``params`` (and ``label``)."""
    specs = [{"dataset": dataset, "bits": b, "seed": 0, "params": dict(params)} for b in (16, 32, 64, 128)]
    specs += [{"dataset": dataset, "bits": 32, "seed": s, "params": dict(params)} for s in (1, 2)]
    return [{**spec, "label": label} for spec in specs] if label else specs


#: The embedded-data run (``mfeat_twoview``: pix as the image side, fou as the text side, protocol ``djsrh``; data
#: that installs with pip): the paper's MIRFLICKR settings (:data:`FALLBACK_DATASET`), the profile's epochs (default
#: 20, about 25 s on a 2-core CPU; paper 80).
_EMBEDDED_SPECS = {
    "smoke": [{"dataset": "mfeat_twoview", "bits": 16, "seed": 0, "params": {}}],
    "default": [{"dataset": "mfeat_twoview", "bits": 32, "seed": 0, "params": {}}],
    "paper": [{"dataset": "mfeat_twoview", "bits": 32, "seed": 0, "params": {}},
              {"dataset": "mfeat_twoview", "bits": 32, "seed": 0, "label": "hashbook-recipe",
               "params": {"recipe": "hashbook"}}],
}

#: ``default``: our recipe (the profile's), its ablations and conventions, and the authors' recipe beside it;
#: ``paper``: the authors' recipe (the profile's) and ours as the labelled variant ``hashbook-recipe``; every
#: profile also runs the embedded-data set (:data:`_EMBEDDED_SPECS`).
GRID = {
    "smoke": [{"dataset": "wikipedia", "bits": 16, "seed": 0, "params": {}}] + _EMBEDDED_SPECS["smoke"],
    "default": _main_specs({}) + _ablation_specs(64) + _CONVENTION_SPECS
    + [{"dataset": "wikipedia", "bits": 32, "seed": 0, "label": "authors-recipe", "params": {"recipe": "authors"}}]
    + _EMBEDDED_SPECS["default"],
    "paper": _main_specs({}) + _main_specs({"recipe": "hashbook"}, "hashbook-recipe")
    + _main_specs({}, dataset="wikipedia_roph") + _main_specs({"recipe": "hashbook"}, "hashbook-recipe",
                                                               dataset="wikipedia_roph")
    + _ablation_specs(64) + _ablation_specs(128) + _CONVENTION_SPECS + _EMBEDDED_SPECS["paper"],
}

#: What each recipe sets where the parameter is None (see the module docstring); ``ema_decay`` None in ours is the
#: automatic rule of :func:`_resolve_ema_decay`.
RECIPES = {
    "hashbook": {"input_norm": "zscore", "center_features": True, "ema_decay": None},
    "authors": {"input_norm": "none", "center_features": False, "ema_decay": 0.0},
}

INPUT_NORMS = ("zscore", "none")
#: ``ema_decay=None`` on feature inputs (the image view holds features, e.g. Wikipedia): see the module docstring.
DEFAULT_EMA_DECAY = 0.999
IMAGE_HEADS = ("mlp", "linear")
DIRECTIONS = [("image", "text"), ("text", "image")]
ENCODE_CHUNK = 4096


# ---------------------------------------------------------------------------------------------- settings

def paper_settings(dataset: str) -> dict:
    """The paper's hyper-parameters for ``dataset`` (lambda1 = lambda2 = its lambda), with ``paper_setting_for``
    naming the dataset they come from (the MIRFLICKR settings for a dataset the paper did not use)."""
    dataset = SAME_ITEMS.get(dataset, dataset)
    source = dataset if dataset in PAPER_SETTINGS else FALLBACK_DATASET
    table = PAPER_SETTINGS[source]
    return {"beta": table["beta"], "eta": PAPER_COMMON["eta"], "mu": PAPER_COMMON["mu"],
            "lambda1": table["lambda"], "lambda2": table["lambda"], "epochs": table["epochs"],
            "lr_image": table["lr_image"], "lr_text": table["lr_text"], "batch_size": PAPER_COMMON["batch_size"],
            "hidden": PAPER_COMMON["hidden"], "momentum": PAPER_COMMON["momentum"],
            "weight_decay": PAPER_COMMON["weight_decay"], "paper_setting_for": source}


def resolve_settings(dataset: str, profile: str, epochs: int | None, params: Mapping[str, Any]) -> dict:
    """Every training setting of a run: the paper's, then the profile's changes, then the explicit arguments
    (``None`` leaves the previous layer's value). ``ValueError`` naming the parameter on a bad value."""
    check_profile_and_parameters(METHOD, profile, params, profiles=PROFILES, parameters=PARAMETERS)
    settings = paper_settings(dataset)
    changes = PROFILES[profile]
    if "epochs" in changes:
        value = changes["epochs"]
        settings["epochs"] = (value.get(SAME_ITEMS.get(dataset, dataset), value["*"]) if isinstance(value, Mapping)
                              else value)
    if "hidden" in changes:
        settings["hidden"] = changes["hidden"]
    settings["subset"] = changes.get("subset")
    settings["profile_note"] = changes["note"]
    merged = {**PARAMETERS, **params}
    for key in ("beta", "eta", "mu", "lambda1", "lambda2", "lr_image", "lr_text", "batch_size", "hidden"):
        if merged[key] is not None:
            settings[key] = merged[key]
    for key in ("alpha_schedule", "image_head", "backbone", "backbone_weights", "data_options"):
        settings[key] = merged[key]
    settings["recipe"] = resolve_recipe(METHOD, merged["recipe"], profile)
    defaults = RECIPES[settings["recipe"]]
    for key, value in defaults.items():
        settings[key] = value if merged[key] is None else merged[key]
    settings["conventions_overridden"] = [key for key in defaults
                                          if merged[key] is not None and merged[key] != defaults[key]]
    if settings["recipe"] == "authors" and merged["ema_decay"] is None:
        settings["ema_decay_source"] = "recipe 'authors': the last SGD iterate"
    if epochs is not None:
        settings["epochs"] = epochs
    _check_settings(settings)
    return settings


def _check_settings(s: dict) -> None:
    for key in ("beta", "eta"):
        if not isinstance(s[key], (int, float)) or not 0.0 <= s[key] <= 1.0:
            raise ValueError(f"{key} must be a number in [0, 1], got {s[key]!r}")
    for key in ("mu", "lr_image", "lr_text"):
        if not isinstance(s[key], (int, float)) or not s[key] > 0:
            raise ValueError(f"{key} must be a positive number, got {s[key]!r}")
    for key in ("lambda1", "lambda2"):
        if not isinstance(s[key], (int, float)) or s[key] < 0:
            raise ValueError(f"{key} must be a non-negative number, got {s[key]!r}")
    for key in ("epochs", "batch_size", "hidden"):
        if isinstance(s[key], bool) or not isinstance(s[key], (int, np.integer)) or s[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {s[key]!r}")
    if s["alpha_schedule"] not in ALPHA_SCHEDULES:
        raise ValueError(f"alpha_schedule must be one of {ALPHA_SCHEDULES}, got {s['alpha_schedule']!r}")
    if s["input_norm"] not in INPUT_NORMS:
        raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {s['input_norm']!r}")
    if not isinstance(s["center_features"], bool):
        raise ValueError(f"center_features must be True or False, got {s['center_features']!r}")
    decay = s["ema_decay"]
    if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float))
                              or not 0.0 <= decay < 1.0):
        raise ValueError(f"ema_decay must be None (automatic) or a number in [0, 1) (0 = no weight averaging), "
                         f"got {decay!r}")
    if s["image_head"] is not None and s["image_head"] not in IMAGE_HEADS:
        raise ValueError(f"image_head must be None or one of {IMAGE_HEADS}, got {s['image_head']!r}")
    if s["data_options"] is not None and not isinstance(s["data_options"], Mapping):
        raise ValueError(f"data_options must be None or a dict of load_dataset options, got {s['data_options']!r}")


# ---------------------------------------------------------------------------------------------- data

def _load(dataset: str, data_root, seed: int, settings: dict):
    from ..data import load_dataset, protocols_for

    options = dict(settings["data_options"] or {})
    protocol = "djsrh" if "djsrh" in protocols_for(dataset) else None
    ds = load_dataset(dataset, root=data_root, protocol=protocol, seed=seed, **options)
    if settings["subset"] is not None and "subset" not in options and ds.n > settings["subset"]:
        # the profile's subset (smoke), drawn only when the data set is larger than it
        ds = load_dataset(dataset, root=data_root, protocol=protocol, seed=seed, subset=settings["subset"],
                          **options)
    missing = [view for view in ("image", "text") if view not in ds.views]
    if missing:
        raise ValueError(f"dataset {dataset!r}: DJSRH needs an 'image' and a 'text' view, the loaded data has "
                         f"{sorted(ds.views)} (missing {missing})")
    if ds.splits["train"].size < 2:
        raise ValueError(f"dataset {dataset!r}: the training split has {ds.splits['train'].size} rows; "
                         f"DJSRH needs at least 2 pairs")
    return ds


def _image_features(ds, rows: np.ndarray, settings: dict, device: torch.device) -> tuple[np.ndarray, dict, bool]:
    """(len(rows), d) float32 image features of ``rows``, a description of where they come from, and whether
    they come from a pretrained front (raw images) rather than the dataset's own feature view."""
    from ..data import ImageDataset, is_image_source

    view = ds.views["image"]
    if not is_image_source(view):
        return (np.asarray(view[rows], dtype=np.float32),
                {"source": "the dataset's image view (features)", "dim": int(view.shape[1])}, False)
    from ..models.backbones import alexnet_weights_path, feature_extractor

    name = settings["backbone"]
    if name is None:
        name = "alexnet" if (settings["backbone_weights"] or alexnet_weights_path()) else "efficientnet_lite0"
    front = feature_extractor(name, settings["backbone_weights"])
    module = front.module.to(device)
    loader = torch.utils.data.DataLoader(ImageDataset(view, rows, transform=front.transform), batch_size=64,
                                         shuffle=False, num_workers=0)
    parts = []
    for images, _, _ in progress(loader, desc=f"{name} features"):
        parts.append(module(images.to(device)).float().cpu())
    features = torch.cat(parts).numpy()
    return features, {"source": "frozen pretrained front on the raw images", **front.describe()}, True


def _affinity_features(train: np.ndarray, center: bool) -> torch.Tensor:
    """The (n, d) features of the training pairs the affinity is built from: as given, or minus their mean."""
    return torch.from_numpy(np.ascontiguousarray(train - train.mean(axis=0, keepdims=True) if center else train,
                                                 dtype=np.float32))


def _standardiser(train: np.ndarray, mode: str):
    if mode == "none":
        return lambda x: x
    mean = train.mean(axis=0, keepdims=True)
    std = train.std(axis=0, keepdims=True)
    std = np.where(std > 1e-8, std, 1.0)
    return lambda x: ((x - mean) / std).astype(np.float32)


# ---------------------------------------------------------------------------------------------- training

def _resolve_ema_decay(settings: dict, image_is_backbone: bool) -> None:
    """Fill in ``settings["ema_decay"]`` when it is ``None``: :data:`DEFAULT_EMA_DECAY` on feature inputs, 0.0
    (no averaging) on features from a pretrained front; ``ema_decay_source`` says which rule applied."""
    if settings["ema_decay"] is None:
        settings["ema_decay"] = 0.0 if image_is_backbone else DEFAULT_EMA_DECAY
        settings["ema_decay_source"] = ("automatic: no averaging on raw images" if image_is_backbone else
                                        "automatic: averaging on feature inputs (chosen on training folds)")
    else:
        settings["ema_decay"] = float(settings["ema_decay"])
        settings.setdefault("ema_decay_source", "given")


def conventions(settings: dict) -> dict[str, str]:
    """Each convention in force, in words (for ``settings["conventions"]``), once ``ema_decay`` is resolved."""
    decay = float(settings["ema_decay"] or 0.0)
    return {
        "input_norm": ("network inputs z-scored with the training mean / std" if settings["input_norm"] == "zscore"
                       else "raw features into the networks"),
        "center_features": ("affinity features centred with the training mean before the cosine"
                            if settings["center_features"] else "affinity (2 cos - 1) of the raw features"),
        "ema_decay": (f"weights averaged over the SGD iterates (EMA, decay {decay:g})" if decay > 0
                      else "the last SGD iterate"),
    }


def _build_networks(settings: dict, image_dim: int, text_dim: int, bits: int, image_is_backbone: bool):
    head = settings["image_head"] or ("linear" if image_is_backbone else "mlp")
    settings["image_head"] = head
    image_net = LinearHashNet(image_dim, bits) if head == "linear" else FeatureHashNet(image_dim, bits,
                                                                                       settings["hidden"])
    return image_net, TextHashNet(text_dim, bits, settings["hidden"])


def train_djsrh(image_net, text_net, inputs: dict, affinity_features: dict, settings: dict, *, seed: int,
                device: torch.device) -> list[dict]:
    """Train both networks in place; return the per-epoch history (mean loss terms, alpha, seconds).

    ``inputs`` / ``affinity_features``: ``{"image": (n, d_I), "text": (n, d_T)}`` float32 tensors of the n
    training pairs (network inputs, and the frozen features the affinity is built from). Each epoch visits a
    seeded permutation in batches of ``batch_size`` and drops the incomplete last batch (as the original
    DataLoader does; a training set smaller than one batch is used whole). With ``settings["ema_decay"] > 0`` an
    exponential moving average of each network's weights is updated after every step and copied into the network
    at the end (the history's losses are those of the running, not the averaged, weights).
    """
    image_net.to(device).train()
    text_net.to(device).train()
    optim = {view: torch.optim.SGD(net.parameters(), lr=settings[f"lr_{view}"], momentum=settings["momentum"],
                                   weight_decay=settings["weight_decay"])
             for view, net in (("image", image_net), ("text", text_net))}
    criterion = JointSemanticsReconstructionLoss(settings["lambda1"], settings["lambda2"])
    decay = float(settings.get("ema_decay") or 0.0)
    averaged = ({view: AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay))
                 for view, net in (("image", image_net), ("text", text_net))} if decay > 0 else {})
    generator = torch_generator(seed)
    n, batch = inputs["image"].shape[0], settings["batch_size"]
    history = []
    start = time.perf_counter()
    bar = progress(range(settings["epochs"]), desc="DJSRH epochs")
    for epoch in bar:
        alpha = alpha_for_epoch(epoch, settings["alpha_schedule"])
        order = torch.randperm(n, generator=generator)
        batches = [order[i:i + batch] for i in range(0, n - batch + 1, batch)] or [order]
        sums = {"loss": 0.0, "loss_cross": 0.0, "loss_image": 0.0, "loss_text": 0.0}
        for step, index in enumerate(batches, start=1):
            S = joint_semantics_affinity(affinity_features["image"][index].to(device),
                                         affinity_features["text"][index].to(device),
                                         settings["beta"], settings["eta"], settings["mu"])
            _, codes_image = image_net(inputs["image"][index].to(device), alpha)
            _, codes_text = text_net(inputs["text"][index].to(device), alpha)
            loss = criterion(codes_image, codes_text, S)
            check_finite(METHOD, epoch + 1, {"loss": loss, **criterion.last_terms}, step=step,
                         hint=f"lower lr_image / lr_text (now {settings['lr_image']:g} / {settings['lr_text']:g})")
            for opt in optim.values():
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in optim.values():
                opt.step()
            if averaged:
                averaged["image"].update_parameters(image_net)
                averaged["text"].update_parameters(text_net)
            sums["loss"] += float(loss.detach())
            for key, value in criterion.last_terms.items():
                sums[key] += value
        row = {"epoch": epoch + 1, "alpha": round(alpha, 6),
               **{key: value / len(batches) for key, value in sums.items()},
               "seconds": round(time.perf_counter() - start, 3)}
        history.append(row)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{row['loss']:.4f}")
    with torch.no_grad():
        for view, net in (("image", image_net), ("text", text_net)):
            if view in averaged:
                for target, mean in zip(net.parameters(), averaged[view].module.parameters(), strict=True):
                    target.copy_(mean)
    return history


@torch.no_grad()
def encode(net, features: torch.Tensor, device: torch.device) -> np.ndarray:
    """int8 codes ``sign(h)`` in {-1, +1} of (n, d) ``features``, in chunks, with the network in eval mode."""
    net.eval()
    parts = [binarize(net.hash(features[i:i + ENCODE_CHUNK].to(device))).cpu()
             for i in range(0, features.shape[0], ENCODE_CHUNK)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, 0), np.int8)


# ---------------------------------------------------------------------------------------------- baselines

def _baselines(raw: dict, splits: dict, labels: dict, bits: int, seed: int, device) -> tuple[list, dict, dict]:
    """CCA + random projection and random codes on the run's split: (``also`` entries, curves, facts)."""
    from ..metrics import evaluate_retrieval

    cca = CCAHash(bits, seed).fit(raw["image"][splits["train"]], raw["text"][splits["train"]])
    codes = {"CCA baseline": ({"image": cca.encode_x(raw["image"][splits["query"]]),
                               "text": cca.encode_y(raw["text"][splits["query"]])},
                              {"image": cca.encode_x(raw["image"][splits["retrieval"]]),
                               "text": cca.encode_y(raw["text"][splits["retrieval"]])})}
    nq, nr = splits["query"].size, splits["retrieval"].size
    codes["random codes"] = ({"image": random_codes(nq, bits, [seed, 1]), "text": random_codes(nq, bits, [seed, 2])},
                             {"image": random_codes(nr, bits, [seed, 3]), "text": random_codes(nr, bits, [seed, 4])})
    also, curves = [], {}
    for name, (query, retrieval) in codes.items():
        for topk, curves_too in ((50, True), (None, False)):
            result = evaluate_retrieval(query, retrieval, labels["query"], labels["retrieval"], pairs=DIRECTIONS,
                                        protocol="deephash", topk=topk, ties="index", curves=curves_too,
                                        device=device)
            also.append({"label": f"{name} mAP@{topk or 'all'} (deephash)", "protocol": "deephash", "topk": topk,
                         "ties": "index", "map": result["map"]})
            if curves_too:
                curves.update({f"{name} {direction}": curve for direction, curve in result["curves"].items()})
    return also, curves, {"cca": cca.describe(),
                          "random_codes": {"seeds": "numpy default_rng([seed, k]), k = 1..4 for image/text query, "
                                                    "image/text retrieval"}}


# ---------------------------------------------------------------------------------------------- entry point

def run(*, dataset: str, bits: int, seed: int = 0, epochs: int | None = None, device: str = "auto",
        data_root=None, out_dir, profile: str = "default", force: bool = False, **params):
    """Train DJSRH once and write the run folder; returns a :class:`hashlib_core.records.RunResult`.

    ``params`` are :data:`PARAMETERS` (``None`` = the paper's value for ``dataset``, or the recipe's for the three
    conventions; ``recipe=None`` = the profile's, see :data:`RECIPES`). ``epochs=None`` takes the profile's
    number. A NaN or inf loss stops the run before anything is encoded or written
    (:class:`hashlib_core.train.TrainingDiverged`). The record's main ``map`` is mAP@50 (``deephash`` protocol, index tie order) for
    ``image->text`` and ``text->image``; ``also`` holds mAP@all of the same codes and the CCA / random-code
    baselines.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
        raise ValueError(f"bits must be a positive integer, got {bits!r}")
    if out_dir is None:
        raise ValueError("out_dir: give the folder the run record is written to")
    settings = resolve_settings(dataset, profile, epochs, params)
    # before any training: refuse an out_dir holding a finished run with other settings (force=True replaces it)
    out_dir = claim_out_dir(out_dir, run_identity(METHOD, dataset=dataset, bits=bits, seed=seed, epochs=epochs,
                                                  profile=profile, params={**PARAMETERS, **params}), force=force)
    seed_everything(seed)
    torch_device = resolve_device(device)

    ds = _load(dataset, data_root, seed, settings)
    rows = np.unique(np.concatenate([ds.splits[name] for name in ("train", "query", "retrieval")]))
    position = {name: np.searchsorted(rows, ds.splits[name]) for name in ("train", "query", "retrieval")}
    image_raw, image_source, image_is_backbone = _image_features(ds, rows, settings, torch_device)
    text_raw = np.asarray(ds.views["text"][rows], dtype=np.float32)
    raw = {"image": image_raw, "text": text_raw}
    scalers = {view: _standardiser(raw[view][position["train"]], settings["input_norm"]) for view in raw}
    net_inputs = {view: torch.from_numpy(np.ascontiguousarray(scalers[view](raw[view]))) for view in raw}

    _resolve_ema_decay(settings, image_is_backbone)
    image_net, text_net = _build_networks(settings, raw["image"].shape[1], raw["text"].shape[1], bits,
                                          image_is_backbone)
    train_idx = torch.from_numpy(position["train"])
    affinity = {view: _affinity_features(raw[view][position["train"]], settings["center_features"]) for view in raw}
    watch = Stopwatch(torch_device)
    nets = {"image": image_net, "text": text_net}
    with torch_threads(1) if torch_device.type == "cpu" else contextlib.nullcontext():
        with watch:
            history = train_djsrh(image_net, text_net, {view: net_inputs[view][train_idx] for view in raw},
                                  affinity, settings, seed=seed, device=torch_device)
        query_codes = {view: encode(net, net_inputs[view][torch.from_numpy(position["query"])], torch_device)
                       for view, net in nets.items()}
        retrieval_codes = {view: encode(net, net_inputs[view][torch.from_numpy(position["retrieval"])],
                                        torch_device) for view, net in nets.items()}

    labels = {name: ds.labels[ds.splits[name]] for name in ("query", "retrieval")}
    baseline_also, baseline_curves, baseline_facts = _baselines(raw, position, labels, bits, seed, torch_device)

    recorded = {key: value for key, value in settings.items() if key != "data_options"}
    recorded["conventions"] = conventions(settings)
    recorded.update({"data_options": dict(settings["data_options"] or {}), "image_features": image_source,
                     "text_dim": int(raw["text"].shape[1]), "drop_last": True, "optimizer": "SGD",
                     "cpu_threads": 1 if torch_device.type == "cpu" else None,
                     "baselines": baseline_facts, "split_protocol": ds.protocol,
                     "parameters": {name: sum(p.numel() for p in net.parameters()) for name, net in nets.items()}})
    also = [{"label": "mAP@all (deephash)", "protocol": "deephash", "topk": None, "ties": "index"},
            {"label": "mAP@all (dchn, as the DCHN paper evaluates)", "protocol": "dchn", "topk": None,
             "ties": "index"}] + baseline_also
    return finish_run(out_dir=out_dir, method=METHOD, dataset=ds, bits=int(bits), seed=seed, profile=profile,
                      epochs=settings["epochs"], train_seconds=watch.seconds, device=describe_device(torch_device),
                      query_codes=query_codes, retrieval_codes=retrieval_codes, protocol="deephash", topk=50,
                      ties="index", pairs=DIRECTIONS, also=also, settings=recorded, history=history,
                      metrics_device=torch_device, artifacts={"networks": nets, "dataset": ds},
                      files={"baselines.json": {"curves": baseline_curves, **baseline_facts}})
