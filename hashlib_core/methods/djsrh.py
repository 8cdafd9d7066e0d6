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
switched off (labels ``no-weight-averaging``, ``uncentred-affinity`` and ``paper-recipe``, the last with all three
off) so the book shows their effect on the test queries.

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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..baselines import CCAHash, random_codes
from ..losses.djsrh import ALPHA_SCHEDULES, JointSemanticsReconstructionLoss, alpha_for_epoch, \
    joint_semantics_affinity
from ..models.djsrh import DEFAULT_HIDDEN, FeatureHashNet, LinearHashNet, TextHashNet, binarize
from ..records import finish_run
from ..records.io import atomic_write_json
from ..train import (Stopwatch, describe_device, progress, resolve_device, seed_everything, torch_generator,
                     torch_threads)
from . import check_profile_and_parameters

METHOD = "djsrh"

#: Method parameters (the notebook's ``parameters`` cell); ``None`` = the paper's setting for the dataset.
PARAMETERS = {
    "beta": None, "eta": None, "mu": None, "lambda1": None, "lambda2": None, "alpha_schedule": "sqrt",
    "lr_image": None, "lr_text": None, "batch_size": None, "hidden": None, "input_norm": "zscore",
    "center_features": True, "ema_decay": None,
    "image_head": None, "backbone": None, "backbone_weights": None, "data_options": None,
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

#: What each profile changes relative to the paper's setting.
PROFILES = {
    "smoke": {"epochs": 2, "hidden": 256, "subset": 1000,
              "note": "2 epochs, 256 hidden units, a seeded stratified subset of 1,000 rows (when the set is "
                      "larger): seconds, checks the plumbing only"},
    "default": {"epochs": {"wikipedia": 50, "*": 20}, "hidden": DEFAULT_HIDDEN,
                "note": "the paper's networks and hyper-parameters with fewer epochs (Wikipedia 50 of 200, other "
                        "sets 20 of 80): about a minute per run on a laptop CPU"},
    "paper": {"note": "the paper's settings (epochs, learning rates, beta, lambda, eta, mu, 4096 hidden units)"},
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


#: The conventions of ours switched off (see the module docstring), at 32 bits: weight averaging alone, the
#: centring alone, then all three (the original code's recipe).
_CONVENTION_SPECS = [
    {"dataset": "wikipedia", "bits": 32, "seed": 0, "label": "no-weight-averaging",
     "params": {"ema_decay": 0.0}},
    {"dataset": "wikipedia", "bits": 32, "seed": 0, "label": "uncentred-affinity",
     "params": {"center_features": False}},
    {"dataset": "wikipedia", "bits": 32, "seed": 0, "label": "paper-recipe",
     "params": {"center_features": False, "input_norm": "none", "ema_decay": 0.0}},
]

GRID = {
    "smoke": [{"dataset": "wikipedia", "bits": 16, "seed": 0, "params": {}}],
    "default": [{"dataset": "wikipedia", "bits": b, "seed": 0, "params": {}} for b in (16, 32, 64, 128)]
    + [{"dataset": "wikipedia", "bits": 32, "seed": s, "params": {}} for s in (1, 2)]
    + _ablation_specs(64) + _CONVENTION_SPECS,
    "paper": [{"dataset": "wikipedia", "bits": b, "seed": 0, "params": {}} for b in (16, 32, 64, 128)]
    + [{"dataset": "wikipedia", "bits": 32, "seed": s, "params": {}} for s in (1, 2)]
    + _ablation_specs(64) + _ablation_specs(128) + _CONVENTION_SPECS,
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
        settings["epochs"] = value.get(dataset, value["*"]) if isinstance(value, Mapping) else value
    if "hidden" in changes:
        settings["hidden"] = changes["hidden"]
    settings["subset"] = changes.get("subset")
    settings["profile_note"] = changes["note"]
    merged = {**PARAMETERS, **params}
    for key in ("beta", "eta", "mu", "lambda1", "lambda2", "lr_image", "lr_text", "batch_size", "hidden"):
        if merged[key] is not None:
            settings[key] = merged[key]
    for key in ("alpha_schedule", "input_norm", "center_features", "ema_decay", "image_head", "backbone",
                "backbone_weights", "data_options"):
        settings[key] = merged[key]
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
        settings["ema_decay_source"] = "given"


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
        for index in batches:
            S = joint_semantics_affinity(affinity_features["image"][index].to(device),
                                         affinity_features["text"][index].to(device),
                                         settings["beta"], settings["eta"], settings["mu"])
            _, codes_image = image_net(inputs["image"][index].to(device), alpha)
            _, codes_text = text_net(inputs["text"][index].to(device), alpha)
            loss = criterion(codes_image, codes_text, S)
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
        data_root=None, out_dir, profile: str = "default", **params):
    """Train DJSRH once and write the run folder; returns a :class:`hashlib_core.records.RunResult`.

    ``params`` are :data:`PARAMETERS` (``None`` = the paper's value for ``dataset``). ``epochs=None`` takes the
    profile's number. The record's main ``map`` is mAP@50 (``deephash`` protocol, index tie order) for
    ``image->text`` and ``text->image``; ``also`` holds mAP@all of the same codes and the CCA / random-code
    baselines.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
        raise ValueError(f"bits must be a positive integer, got {bits!r}")
    if out_dir is None:
        raise ValueError("out_dir: give the folder the run record is written to")
    settings = resolve_settings(dataset, profile, epochs, params)
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
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "baselines.json", {"curves": baseline_curves, **baseline_facts})

    recorded = {key: value for key, value in settings.items() if key != "data_options"}
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
                      metrics_device=torch_device, artifacts={"networks": nets, "dataset": ds})


# ---------------------------------------------------------------------------------------------- book tables
# The chapter (book/chapters/djsrh.ipynb) reads run records only; these helpers turn load_runs() rows into its
# tables. Column name -> the evaluation label in the records (``"main"`` is the record's own mAP@50).
EVALUATIONS = {
    "DJSRH mAP@50": "main",
    "CCA mAP@50": "CCA baseline mAP@50 (deephash)",
    "random mAP@50": "random codes mAP@50 (deephash)",
    "DJSRH mAP@all": "mAP@all (deephash)",
    "CCA mAP@all": "CCA baseline mAP@all (deephash)",
    "random mAP@all": "random codes mAP@all (deephash)",
    "DJSRH mAP@all (dchn)": "mAP@all (dchn, as the DCHN paper evaluates)",
}


def _our_rows(runs, dataset: str | None):
    keep = (runs["method"] == METHOD) & (runs["status"] == "ok") & (runs["notebook"] == METHOD)
    if dataset is not None:
        keep &= runs["dataset"] == dataset
    return runs[keep]


def evaluations_table(runs, *, dataset: str = "wikipedia", labels=(None,), bits=None, seeds=None,
                      columns=tuple(EVALUATIONS)):
    """One row per (profile, source, label, bits, direction): the mean over seeds of each evaluation in
    ``columns`` (keys of :data:`EVALUATIONS`), with the number of seeds ``n`` and the seeds themselves.

    ``runs``: :func:`hashlib_core.records.runs.load_runs` rows. ``labels``: grid labels to keep (``None`` = the
    unlabelled main runs). ``bits`` / ``seeds``: optional filters (lists).
    """
    import pandas as pd

    rows = _our_rows(runs, dataset)
    labelled = rows["label"].isin([lab for lab in labels if lab is not None])
    if None in labels:
        labelled |= rows["label"].isna()
    rows = rows[labelled]
    if bits is not None:
        rows = rows[rows["bits"].isin(list(bits))]
    if seeds is not None:
        rows = rows[rows["seed"].isin(list(seeds))]
    names = {EVALUATIONS[column]: column for column in columns}
    rows = rows[rows["evaluation"].isin(list(names))].assign(
        label=lambda f: f["label"].fillna("(main)"), column=lambda f: f["evaluation"].map(names))
    if rows.empty:
        return pd.DataFrame(columns=["profile", "source", "label", "bits", "direction", "n", "seeds", *columns])
    keys = ["profile", "source", "label", "bits", "direction"]
    values = rows.pivot_table(index=keys, columns="column", values="map", aggfunc="mean")
    seeds_used = rows.groupby(keys)["seed"].agg(lambda s: sorted(set(int(v) for v in s)))
    table = values.reindex(columns=[c for c in columns if c in values.columns]).reset_index()
    table.insert(5, "n", [len(seeds_used[tuple(k)]) for k in table[keys].itertuples(index=False)])
    table.insert(6, "seeds", [", ".join(map(str, seeds_used[tuple(k)])) for k in table[keys].itertuples(index=False)])
    order = {label: i for i, label in enumerate(["(main)", *[lab for lab, *_ in ABLATION]])}
    table["_order"] = table["label"].map(lambda lab: order.get(lab, len(order)))
    return table.sort_values(["profile", "source", "_order", "label", "bits", "direction"]).drop(
        columns="_order").reset_index(drop=True)


def ablation_table(runs, references, *, dataset: str = "wikipedia"):
    """The paper's Table 1 (NUS-WIDE TC-10, mAP@50) beside our ablation runs on ``dataset``: one row per
    ablation step in the paper's order; columns ``(source, direction, bits)``, ``source`` being
    ``"paper (nus_wide_tc10)"`` or ``"ours (<dataset>, <profile>)"`` (mean over seeds)."""
    import pandas as pd

    paper = references[references["table"].astype(str) == "1"]
    ours = evaluations_table(runs, dataset=dataset, labels=[label for label, *_ in ABLATION],
                             columns=("DJSRH mAP@50",))
    frame = {}
    for label, paper_method, description, _ in ABLATION:
        row = {}
        for _, ref in paper[paper["method"] == paper_method].iterrows():
            row[(f"paper ({ref['dataset']})", ref["direction"], int(ref["bits"]))] = ref["value"]
        for _, our in ours[ours["label"] == label].iterrows():
            source = f"ours ({dataset}, {our['profile']}{'' if our['source'] == 'fresh' else ', committed'})"
            row[(source, our["direction"], int(our["bits"]))] = our["DJSRH mAP@50"]
        frame[f"{description} [{paper_method}]"] = row
    table = pd.DataFrame.from_dict(frame, orient="index")
    if len(table.columns):
        table.columns = pd.MultiIndex.from_tuples(table.columns, names=["source", "direction", "bits"])
        table = table.reindex(columns=sorted(table.columns, key=lambda c: (not c[0].startswith("paper"), c[0],
                                                                            c[2], c[1])))
    table.index.name = "ablation step"
    return table
