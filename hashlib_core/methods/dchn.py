"""DCHN end to end (Hu et al., "Joint Versus Independent Multiview Hashing for Cross-View Retrieval", IEEE TCYB
2021): SHAM target codes from the labels, then one independent network per view.

The per-view API makes the independence visible::

    sham = fit_sham(train_labels, bits, dataset="wikipedia")            # labels only -> W and target codes
    net = train_view(image_features_train, train_labels, sham)           # needs ONLY this view's features
    codes = encode(net, image_features_query)                            # (n, bits) int8 +-1

A new view is one more :func:`train_view` call; the networks and codes of the other views are not touched
(:func:`add_view_experiment` checks that bit for bit). :func:`run` is what ``notebooks/dchn.ipynb`` and
``python -m hashlib_core run dchn`` call: it trains every requested view, encodes query and retrieval items, fits
the ridge baseline on the same targets, and writes the run folder (mAP@all with protocol ``"dchn"``, every
ordered pair of distinct views; a ``deephash`` mAP@all beside it).
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..losses.dchn import DCHNLoss
from ..models.dchn import DCHNViewNet, standardisation
from ..models.sham import ShamResult, fit_sham, sign_pm1
from ..records.io import sha256_array
from ..train import check_finite, describe_device, progress, resolve_device, seed_everything
from ..train.recipes import resolve_recipe

METHOD = "dchn"
RIDGE_LABEL = "ridge baseline (same targets)"   # the ``also`` entry of the ridge baseline in every record
#: method parameters of ``run()`` / the notebook's ``parameters`` cell, with their defaults (DCHN_100)
PARAMETERS = {"available_num": 100, "alpha": 0.02, "gamma": 1.0, "views": None, "vgg_weights": None,
              "recipe": None, "lr": 1e-4, "standardize_inputs": None}

#: one line per parameter of :data:`PARAMETERS` (``python -m hashlib_core run dchn --help`` prints them)
PARAMETER_HELP = {
    "available_num": "training label rows added to the C one-hot class rows when SHAM fits its target codes "
                     "(100 = DCHN_100, 0 = DCHN_0)",
    "alpha": "loss weight in [0, 1]: alpha * hash-code loss + (1 - alpha) * label-reconstruction loss",
    "gamma": "SHAM's weight (> 0) of the code-consistency term ||B - Y W||^2",
    "views": "view name or list of views to train (None = every view of the dataset)",
    "vgg_weights": "local VGG19-BN state-dict file for a raw-image view's fc7 front (None = the usual local copy)",
    "recipe": "'authors' (what the authors' released code does) or 'hashbook' (our conventions); None = the "
              "profile's ('authors' for paper, 'hashbook' otherwise)",
    "lr": "Adam learning rate of the view networks (the paper's 1e-4)",
    "standardize_inputs": "z-score each feature view with its training mean / std inside the network (None = the "
                          "recipe's: True for hashbook, False for authors)",
}
#: the authors' schedule (``paper`` profile); the other profiles change only what :data:`PROFILES` lists
PAPER_SETTINGS = {
    "hidden": 4096,             # MLP in -> 4096 -> 4096 -> bits
    "epochs": 100,
    "lr": 1e-4,                 # Adam
    "betas": [0.5, 0.999],
    "batch_size": 64,
    "lr_drop_factor": 0.1,      # when the lr drops (RECIPES' lr_schedule), it is multiplied by this
    "front_lr_factor": 0.1,     # a pretrained image front learns at lr x 0.1
    "sham_iterations": 50,
    "ridge": 1.0,               # ridge baseline's penalty on standardised features
}

#: What each recipe does where the authors' released code (``penghu-cs/DCHN``) and ours differ (the list of
#: differences: ``../shared/reference/authors-recipes.md``, DCHN rows 1, 2, 4, 5, 10, 12):
#:
#: - ``standardize_inputs``: ours z-scores each feature view with its training mean / std inside the network; the
#:   authors feed raw features (on Wikipedia this one switch is the whole text->image gap, 0.39 vs 0.74);
#: - ``sham_selection``: SHAM keeps the W with the lowest Frobenius objective J (ours) or the lowest L1-type loss
#:   (authors), :mod:`hashlib_core.models.sham`;
#: - ``sham_monotone``: our coordinate-descent guard on SHAM's B step; the authors' code has none;
#: - ``lr_schedule``: ``"once-at-half"`` (ours: x0.1 from epoch round(epochs / 2) on) or ``"every-50"`` (the
#:   authors': x0.1 whenever (epoch + 1) % 50 == 0, applied after that epoch, i.e. x0.1**k from epoch 50 k on;
#:   the two agree at 100 epochs and differ at any other count);
#: - ``sham_init``: SHAM's initial W from the run seed (ours) or from the fixed NumPy seed 5555 (authors);
#: - ``network_init``: each view network's initial weights from the run seed and the view (ours), or independent
#:   of the run seed (authors: the network is built before the run seeds torch; only the batch order follows the
#:   seed). The authors' initial weights come from torch's default generator state, which we cannot reproduce
#:   bit for bit, so ``"fixed"`` uses one fixed seed per view (:func:`fixed_init_seed`): same rule, other bytes.
#:
#: Same in both recipes (no difference found, or none that can be told apart): the SHAM label rows (identity plus
#: ``available_num`` rows drawn with the run seed; the authors shuffle the identity and draw from an unseeded
#: shuffle, same distribution), the B/W steps, the target codes, the loss, output normalisation, Adam's settings,
#: batches of 64 in a seeded order with the last partial batch kept. Not known from the authors' code: whether
#: their Adam state is rebuilt when the lr drops (ours keeps it), and exactly which (B, W) pair their L1 criterion
#: scores (ours: the pair of one alternation, like J).
RECIPES = {
    "hashbook": {"standardize_inputs": True, "sham_selection": "frobenius", "sham_monotone": True,
                 "lr_schedule": "once-at-half", "sham_init": "seeded", "network_init": "run-seed"},
    "authors": {"standardize_inputs": False, "sham_selection": "l1", "sham_monotone": False,
                "lr_schedule": "every-50", "sham_init": "fixed", "network_init": "fixed"},
}
LR_SCHEDULES = ("once-at-half", "every-50")
_CONVENTION_TEXT = {
    ("standardize_inputs", True): "feature views z-scored with their training mean / std inside the network",
    ("standardize_inputs", False): "raw features into the network (no input scaling)",
    ("sham_selection", "frobenius"): "SHAM keeps the W of lowest ||Y - B W^T||^2 + gamma ||B - Y W||^2",
    ("sham_selection", "l1"): "SHAM keeps the W of lowest mean_i sum|Y - B W^T| + gamma mean_i sum|B - Y W|",
    ("sham_monotone", True): "SHAM's relaxed-sign B step guarded by a coordinate-descent step when J would rise",
    ("sham_monotone", False): "SHAM's relaxed-sign B step unguarded",
    ("lr_schedule", "once-at-half"): "lr x0.1 once, from epoch round(epochs / 2) on",
    ("lr_schedule", "every-50"): "lr x0.1 whenever (epoch + 1) % 50 == 0",
    ("sham_init", "seeded"): "SHAM's initial W drawn with the run seed",
    ("sham_init", "fixed"): "SHAM's initial W from the fixed NumPy seed 5555 (same for every run seed)",
    ("network_init", "run-seed"): "network initialisation and batch order from the run seed and the view",
    ("network_init", "fixed"): "network initialisation fixed per view (independent of the run seed); batch order "
                               "from the run seed",
}
PROFILES = {
    "paper": {},
    "default": {"hidden": 512, "epochs": 30},    # real data on a 2-core CPU in minutes (lr drop at epoch 15)
    "smoke": {"hidden": 256, "epochs": 3},       # seconds (tests, CI)
}

_BITS = (16, 32, 64, 128)
_MULTIVIEW = ("mfeat", "scene15", "msrc_v1", "pie_face")
#: the paper's own datasets (Tables 1-2); the paper grid includes those whose files are present
PAPER_DATASETS = ("mirflickr25k", "iapr_tc12", "nus_wide_tc21", "mscoco")


def _present(name: str) -> bool:
    try:
        from ..data import dataset_status

        return dataset_status(name)["status"] == "present"
    except Exception:  # an unreadable data root: the dataset is simply not in the grid
        return False


def _variants(dataset: str, bits: Sequence[int]) -> list[dict]:
    """For each bit width: DCHN_100 (the method's main setting, no label) and DCHN_0 (label ``dchn0``) with the
    profile's recipe, and DCHN_100 with our recipe (label ``hashbook-recipe``, the paper grid's variant)."""
    return [spec for b in bits for spec in (
        {"dataset": dataset, "bits": b, "seed": 0, "params": {"available_num": 100}},
        {"dataset": dataset, "bits": b, "seed": 0, "params": {"available_num": 0}, "label": "dchn0"},
        {"dataset": dataset, "bits": b, "seed": 0, "params": {"available_num": 100, "recipe": "hashbook"},
         "label": "hashbook-recipe"})]


def _new_view(dataset: str, bits: int = 32) -> dict:
    return {"dataset": dataset, "bits": bits, "seed": 0, "params": {}, "notebook": "dchn_new_view"}


#: what ``make book`` runs for each profile (grid runner specs; see ARCHITECTURE.md). ``paper`` (the authors'
#: recipe): every dataset present under ``$HASHLIB_DATA`` (the paper's four when their files are there, plus ours),
#: 16-128 bits, DCHN_100 and DCHN_0, DCHN_100 with our recipe (``hashbook-recipe``), and the new-view experiment
#: on every multi-view set. ``default`` (our recipe) adds the authors' recipe on Wikipedia at 32 bits with the
#: authors' 100 epochs (``authors-recipe``; at the profile's 30 epochs their lr rule would never drop the lr).
GRID = {
    "smoke": [
        {"dataset": "mfeat", "bits": 16, "seed": 0, "params": {}},
        _new_view("mfeat", 16),
    ],
    "default": [
        *[{"dataset": "wikipedia", "bits": b, "seed": 0, "params": {}} for b in _BITS],
        {"dataset": "wikipedia", "bits": 32, "seed": 0, "params": {"available_num": 0}, "label": "dchn0"},
        {"dataset": "wikipedia", "bits": 32, "seed": 0, "params": {"recipe": "authors"}, "label": "authors-recipe",
         "epochs": 100},
        {"dataset": "mfeat", "bits": 32, "seed": 0, "params": {}},
        *[_new_view(name) for name in _MULTIVIEW],
    ],
    "paper": [
        *[spec for name in (*[d for d in PAPER_DATASETS if _present(d)], "wikipedia", *_MULTIVIEW)
          for spec in _variants(name, _BITS)],
        *[_new_view(name) for name in _MULTIVIEW],
    ],
}


# ------------------------------------------------------------------------------------------------ settings
def lr_drop_epochs(schedule: str, epochs: int) -> list[int]:
    """0-based epochs from which the learning rate is multiplied by the drop factor once more, for
    ``epochs`` epochs: ``"once-at-half"`` -> ``[max(1, round(epochs / 2))]``; ``"every-50"`` -> ``[50, 100, ...]``
    below ``epochs`` (the authors' ``(epoch + 1) % 50 == 0`` after epoch ``epoch``)."""
    if schedule == "once-at-half":
        return [max(1, int(round(epochs * 0.5)))]
    if schedule == "every-50":
        return list(range(50, int(epochs), 50))
    raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")


def lr_factor(epoch: int, drop_epochs, factor: float) -> float:
    """The learning-rate multiplier of 0-based ``epoch``: ``factor ** (number of drop epochs <= epoch)``."""
    return float(factor) ** sum(1 for start in drop_epochs if epoch >= start)


def fixed_init_seed(view: str) -> int:
    """The ``network_init="fixed"`` seed of one view's initial weights: from the view's name only, not the run
    seed (the authors' rule: the network does not depend on the seed)."""
    return zlib.crc32(f"dchn:fixed-init:{view}".encode("utf-8")) & 0x7FFFFFFF


def profile_settings(profile: str, epochs: int | None = None, recipe: str | None = None,
                     standardize_inputs: bool | None = None, lr: float | None = None) -> dict[str, Any]:
    """The training settings of ``profile`` (the paper's, updated with :data:`PROFILES`), with ``epochs`` / ``lr``
    overriding the profile's when given, and the conventions of ``recipe`` (None = the profile's:
    ``hashlib_core.train.recipes``; ``standardize_inputs`` overrides the recipe's). Adds ``recipe``,
    ``conventions`` (each convention in force, in words), ``conventions_overridden``, ``lr_drop_epochs``,
    ``lr_drop_epoch`` (the first of them, None when the lr never drops) and ``profile_changes`` (what differs
    from the paper's schedule)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    recipe = resolve_recipe(METHOD, recipe, profile)
    settings = {**PAPER_SETTINGS, **PROFILES[profile]}
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs must be None or a positive integer, got {epochs!r}")
        settings["epochs"] = int(epochs)
    if lr is not None:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or not lr > 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        settings["lr"] = float(lr)
    settings.update(RECIPES[recipe])
    overridden = []
    if standardize_inputs is not None:
        if not isinstance(standardize_inputs, (bool, np.bool_)):
            raise ValueError(f"standardize_inputs must be None (the recipe's), True or False, "
                             f"got {standardize_inputs!r}")
        overridden = ["standardize_inputs"] if bool(standardize_inputs) != settings["standardize_inputs"] else []
        settings["standardize_inputs"] = bool(standardize_inputs)
    settings["recipe"] = recipe
    settings["conventions"] = {key: _CONVENTION_TEXT[(key, settings[key])] for key in RECIPES[recipe]}
    settings["conventions_overridden"] = overridden
    settings["lr_drop_epochs"] = lr_drop_epochs(settings["lr_schedule"], settings["epochs"])
    settings["lr_drop_epoch"] = settings["lr_drop_epochs"][0] if settings["lr_drop_epochs"] else None
    settings["profile_changes"] = {key: {"paper": PAPER_SETTINGS[key], "used": settings[key]}
                                   for key in PAPER_SETTINGS if settings[key] != PAPER_SETTINGS[key]}
    return settings


def split_protocol_for(dataset: str) -> str:
    """``"dchn"`` where the data layer defines DCHN's split for ``dataset``, else the dataset's default."""
    from ..data import protocols_for

    protocols = tuple(protocols_for(dataset))
    return "dchn" if "dchn" in protocols else protocols[0]


def view_seed(seed: int, view: str) -> int:
    """Seed of one view's network initialisation and batch order, from the run seed and the view's name only, so
    a view's network does not depend on which other views are trained, or in which order."""
    return zlib.crc32(f"dchn:{int(seed)}:{view}".encode("utf-8")) & 0x7FFFFFFF


# ------------------------------------------------------------------------------------------------ one view
def _is_image_source(data) -> bool:
    """A lazy image view (``len(src)``, ``src[i]`` -> PIL image), as opposed to a feature matrix."""
    if isinstance(data, (np.ndarray, torch.Tensor, list, tuple)):
        return False
    return hasattr(data, "__getitem__") and hasattr(data, "__len__")


def _check_features(features, name: str) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"{name}: expected an (n, d) feature matrix, got shape {features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError(f"{name}: features contain NaN or inf")
    return features


def _build_network(data, bits: int, hidden: int, *, seed: int, standardize: bool, vgg_weights) -> DCHNViewNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if _is_image_source(data):
            from ..models.backbones_vgg import VGG19BNFc7

            return DCHNViewNet(None, bits, hidden, front=VGG19BNFc7(vgg_weights))
        mean, std = standardisation(data) if standardize else (None, None)
        return DCHNViewNet(data.shape[1], bits, hidden, input_mean=mean, input_std=std)


def _image_loader(source, indices, labels, *, batch_size: int, shuffle: bool, generator=None, num_workers: int = 0,
                  image_size: int = 224):
    from torch.utils.data import DataLoader

    from ..data.images import ImageDataset
    from ..models.backbones_vgg import vgg_transform

    dataset = ImageDataset(source, indices, labels, transform=vgg_transform(image_size))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=num_workers)


def train_view(features, train_labels: np.ndarray, sham: ShamResult, *, view: str = "view", seed: int = 0,
               hidden: int = 4096, epochs: int = 100, lr: float = 1e-4, betas: Sequence[float] = (0.5, 0.999),
               batch_size: int = 64, lr_drop_epoch: int | None = 50, lr_drop_factor: float = 0.1,
               alpha: float = 0.02, standardize_inputs: bool = True, front_lr_factor: float = 0.1,
               vgg_weights=None, indices: np.ndarray | None = None, all_labels: np.ndarray | None = None,
               image_size: int = 224, device="cpu", num_workers: int = 0, lr_drop_epochs=None,
               init_seed: int | None = None) -> DCHNViewNet:
    """Train the network of ONE view against SHAM's target codes; return it (``.history``: one dict per epoch
    with ``loss``, ``L_H``, ``L_R``, ``lr``; ``.train_seconds``).

    ``features``: (n, d) training features of this view, row i labelled ``train_labels[i]`` ((n, C) multi-hot).
    For a raw-image view pass the dataset's image source as ``features`` with the training rows ``indices`` and
    the full ``all_labels`` (N, C); the network then gets a VGG19-BN fc7 front (``vgg_weights``: a local
    torchvision state dict, else random initialisation) learning at ``lr * front_lr_factor``; images are resized
    to ``image_size`` (224, as VGG was trained).
    Loss: :class:`~hashlib_core.losses.dchn.DCHNLoss` (``alpha * L_H + (1 - alpha) * L_R``); Adam(``lr``,
    ``betas``); ``lr`` times ``lr_drop_factor`` from epoch ``lr_drop_epoch`` (0-based count of finished epochs),
    or, with ``lr_drop_epochs`` (a list of such epochs), times ``lr_drop_factor ** k`` after the k-th of them
    (:func:`lr_factor`). The batch order comes from :func:`view_seed` (``seed``, ``view``) only; so does the
    initialisation unless ``init_seed`` is given (the authors' recipe: :func:`fixed_init_seed`).
    A NaN or inf loss term stops training at once (:class:`hashlib_core.train.TrainingDiverged`).
    """
    if not isinstance(sham, ShamResult):
        raise ValueError(f"sham must be the ShamResult of fit_sham, got {type(sham).__name__}")
    device = resolve_device(device)
    vseed = view_seed(seed, view)
    images = _is_image_source(features)
    if images:
        if indices is None or all_labels is None:
            raise ValueError(f"view {view!r} is an image source: pass the training rows `indices` and `all_labels`")
        train_labels = np.asarray(all_labels)[np.asarray(indices)]
    else:
        features = _check_features(features, f"features of view {view!r}")
        train_labels = np.asarray(train_labels)
        if train_labels.shape[0] != features.shape[0]:
            raise ValueError(f"view {view!r}: {features.shape[0]} feature rows but {train_labels.shape[0]} label rows")
    if train_labels.ndim != 2 or train_labels.shape[1] != sham.num_classes:
        raise ValueError(f"train_labels: expected (n, {sham.num_classes}) multi-hot, got {train_labels.shape}")
    for name, value in (("batch_size", batch_size), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")

    drops = ([] if lr_drop_epoch is None else [int(lr_drop_epoch)]) if lr_drop_epochs is None else \
        [int(e) for e in lr_drop_epochs]
    net = _build_network(features, sham.bits, hidden, seed=vseed if init_seed is None else int(init_seed),
                         standardize=standardize_inputs, vgg_weights=vgg_weights).to(device)
    criterion = DCHNLoss(sham.W, alpha=alpha).to(device)
    groups = net.parameter_groups(lr, front_lr_factor)
    optimizer = torch.optim.Adam(groups, lr=lr, betas=tuple(betas))
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    generator = torch.Generator().manual_seed(vseed)
    W = torch.as_tensor(sham.W, dtype=torch.float32, device=device)

    if images:
        loader = _image_loader(features, indices, all_labels, batch_size=batch_size, shuffle=True,
                               generator=generator, num_workers=num_workers, image_size=image_size)
    else:
        x_all = torch.from_numpy(features).to(device)
        y_all = torch.from_numpy(train_labels.astype(np.float32)).to(device)
        o_all = torch.from_numpy(sham.target_codes(train_labels).astype(np.float32)).to(device)
        n = x_all.shape[0]

    def batches():
        if images:
            for x, y, _ in loader:
                x, y = x.to(device), y.to(device)
                yield x, y, torch.where(y @ W > 0, 1.0, -1.0)
        else:
            order = torch.randperm(n, generator=generator).to(device)
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                yield x_all[idx], y_all[idx], o_all[idx]

    net.history = []
    started = time.perf_counter()
    bar = progress(range(epochs), desc=f"DCHN {view}")
    for epoch in bar:
        factor = lr_factor(epoch, drops, lr_drop_factor)
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * factor
        net.train()
        totals = {"loss": 0.0, "L_H": 0.0, "L_R": 0.0}
        count = 0
        for step, (x, y, o) in enumerate(batches(), start=1):
            optimizer.zero_grad(set_to_none=True)
            loss, terms = criterion(net(x), o, y, return_terms=True)
            check_finite(METHOD, epoch + 1, {"loss": loss, **terms}, step=step, where=f"view {view!r}",
                         hint=f"lower lr (now {optimizer.param_groups[0]['lr']:g})")
            loss.backward()
            optimizer.step()
            m = x.shape[0]
            totals["loss"] += float(loss.detach()) * m
            totals["L_H"] += terms["L_H"] * m
            totals["L_R"] += terms["L_R"] * m
            count += m
        row = {"epoch": epoch + 1, **{k: v / max(count, 1) for k, v in totals.items()},
               "lr": optimizer.param_groups[0]["lr"]}
        net.history.append(row)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{row['loss']:.4f}")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    net.train_seconds = time.perf_counter() - started
    net.eval()
    return net


@torch.no_grad()
def encode(net: DCHNViewNet, features, *, indices: np.ndarray | None = None, batch_size: int = 2048,
           image_size: int = 224, device=None) -> np.ndarray:
    """Codes of items under one view's network: (n, d) features (or an image source with row ``indices``) ->
    (n, bits) int8 in {-1, +1} (sign of the output; 0 maps to -1)."""
    device = next(net.parameters()).device if device is None else resolve_device(device)
    net = net.to(device).eval()
    outputs = []
    if _is_image_source(features):
        if indices is None:
            raise ValueError("encode: pass the row `indices` with an image source")
        for x, _, _ in _image_loader(features, indices, None, batch_size=min(batch_size, 128), shuffle=False,
                                     image_size=image_size):
            outputs.append(net(x.to(device)).float().cpu().numpy())
    else:
        features = _check_features(features, "encode features")
        for start in range(0, features.shape[0], batch_size):
            x = torch.from_numpy(features[start:start + batch_size]).to(device)
            outputs.append(net(x).float().cpu().numpy())
    if not outputs:
        return np.zeros((0, net.bits), dtype=np.int8)
    return sign_pm1(np.concatenate(outputs))


def network_sha256(net: torch.nn.Module) -> str:
    """SHA-256 over a network's state dict (names, dtypes, shapes, bytes, in key order): equal hashes mean
    bit-identical parameters and buffers."""
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode("utf-8"))
        digest.update(array.tobytes())
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------ runs
def _select_views(ds, views) -> list[str]:
    available = list(ds.views)
    if views is None:
        return available
    chosen = [views] if isinstance(views, str) else list(views)
    unknown = [v for v in chosen if v not in available]
    if unknown or not chosen:
        raise ValueError(f"views={views!r}: unknown view(s) {unknown} for {ds.name}; available: {available}")
    return chosen


def _load(dataset, *, data_root, seed, views):
    from ..data import load_dataset

    protocol = split_protocol_for(dataset)
    options = {} if views is None else {"views": [views] if isinstance(views, str) else list(views)}
    ds = load_dataset(dataset, root=data_root, protocol=protocol, seed=seed, **options)
    return ds, protocol


def _check_params(bits, available_num, alpha, gamma):
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
        raise ValueError(f"bits must be a positive integer, got {bits!r}")
    if isinstance(available_num, bool) or not isinstance(available_num, (int, np.integer)) or available_num < 0:
        raise ValueError(f"available_num must be a non-negative integer, got {available_num!r}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    if not float(gamma) > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")


class _Trainer:
    """Trains and encodes views of one loaded dataset with one SHAM and one settings dict (used by run() and the
    new-view experiment so both train a view the same way)."""

    def __init__(self, ds, sham, settings, *, seed, alpha, device, vgg_weights):
        self.ds, self.sham, self.settings = ds, sham, settings
        self.seed, self.alpha, self.device, self.vgg_weights = seed, alpha, device, vgg_weights
        self.train_rows = ds.splits["train"]
        self.train_labels = ds.labels[self.train_rows]

    def train(self, view: str) -> DCHNViewNet:
        data = self.ds.views[view]
        s = self.settings
        common = dict(view=view, seed=self.seed, hidden=s["hidden"], epochs=s["epochs"], lr=s["lr"],
                      betas=s["betas"], batch_size=s["batch_size"], lr_drop_epochs=s["lr_drop_epochs"],
                      init_seed=fixed_init_seed(view) if s["network_init"] == "fixed" else None,
                      lr_drop_factor=s["lr_drop_factor"], alpha=self.alpha,
                      standardize_inputs=s["standardize_inputs"], front_lr_factor=s["front_lr_factor"],
                      vgg_weights=self.vgg_weights, device=self.device)
        if _is_image_source(data):
            return train_view(data, None, self.sham, indices=self.train_rows, all_labels=self.ds.labels, **common)
        return train_view(data[self.train_rows], self.train_labels, self.sham, **common)

    def encode(self, net: DCHNViewNet, view: str, split: str) -> np.ndarray:
        data, rows = self.ds.views[view], self.ds.splits[split]
        if _is_image_source(data):
            return encode(net, data, indices=rows)
        return encode(net, data[rows])


def _history_rows(nets: dict[str, DCHNViewNet]) -> list[dict]:
    """One dict per epoch: ``{"epoch", "<view> loss", "<view> L_H", "<view> L_R", "<view> lr"}`` for every view."""
    epochs = max((len(net.history) for net in nets.values()), default=0)
    rows = []
    for e in range(epochs):
        row = {"epoch": e + 1}
        for view, net in nets.items():
            if e < len(net.history):
                row.update({f"{view} {key}": value for key, value in net.history[e].items() if key != "epoch"})
        rows.append(row)
    return rows


def _ridge_baseline(ds, views, sham, ridge: float) -> tuple[dict | None, dict]:
    """The ridge baseline (same targets, same split) evaluated like DCHN; ``(also entry or None, notes)``."""
    from ..baselines.ridge import fit_ridge_hasher
    from ..metrics import evaluate_retrieval

    feature_views = [v for v in views if isinstance(ds.views[v], np.ndarray)]
    notes = {"ridge": ridge, "views": feature_views,
             "skipped_views": [v for v in views if v not in feature_views]}
    if len(feature_views) < 2:
        notes["skipped"] = "fewer than two feature views"
        return None, notes
    train, query, retrieval = (ds.splits[k] for k in ("train", "query", "retrieval"))
    targets = sham.target_codes(ds.labels[train])
    q_codes, r_codes = {}, {}
    for view in feature_views:
        hasher = fit_ridge_hasher(ds.views[view][train], targets, ridge=ridge)
        q_codes[view] = hasher.encode(ds.views[view][query])
        r_codes[view] = hasher.encode(ds.views[view][retrieval])
    result = evaluate_retrieval(q_codes, r_codes, ds.labels[query], ds.labels[retrieval], protocol="dchn",
                                topk=None, ties="index", curves=False)
    entry = {"label": RIDGE_LABEL, "protocol": "dchn", "topk": None, "ties": "index",
             "map": result["map"]}
    return entry, notes


def _prepare(*, dataset, bits, seed, epochs, device, data_root, profile, available_num, alpha, gamma, views,
             recipe=None, lr=PARAMETERS["lr"], standardize_inputs=None):
    _check_params(bits, available_num, alpha, gamma)
    settings = profile_settings(profile, epochs, recipe=recipe, standardize_inputs=standardize_inputs, lr=lr)
    seed_everything(seed)
    dev = resolve_device(device)
    ds, split_protocol = _load(dataset, data_root=data_root, seed=seed, views=views)
    chosen = _select_views(ds, views)
    if len(chosen) < 2:
        raise ValueError(f"views={views!r}: DCHN retrieves across views and needs at least two, got {chosen}")
    started = time.perf_counter()
    sham = fit_sham(ds.labels[ds.splits["train"]], int(bits), dataset=ds.name, gamma=float(gamma),
                    available_num=int(available_num), seed=seed, iterations=settings["sham_iterations"],
                    monotone=settings["sham_monotone"], init=settings["sham_init"],
                    selection=settings["sham_selection"])
    sham_seconds = time.perf_counter() - started
    return settings, dev, ds, split_protocol, chosen, sham, sham_seconds


def _base_settings(settings, *, profile, seed, split_protocol, available_num, alpha, gamma, views, vgg_weights, sham,
                   sham_seconds, nets) -> dict:
    return {
        "profile": profile, **{k: v for k, v in settings.items()},
        "variant": f"DCHN_{int(available_num)}", "available_num": int(available_num), "alpha": float(alpha),
        "gamma": float(gamma), "views": list(views), "split_protocol": split_protocol,
        "vgg_weights": None if vgg_weights is None else str(vgg_weights),
        "view_dims": {v: int(net.in_features) for v, net in nets.items()},
        "view_train_seconds": {v: round(net.train_seconds, 3) for v, net in nets.items()},
        "view_seeds": {v: view_seed(seed, v) for v in nets},
        "view_init_seeds": {v: fixed_init_seed(v) if settings["network_init"] == "fixed" else view_seed(seed, v)
                            for v in nets},
        "sham": sham.summary(), "sham_seconds": round(sham_seconds, 3), "torch_threads": torch.get_num_threads(),
    }


def run(*, dataset: str, bits: int, seed: int = 0, epochs: int | None = None, device="auto", data_root=None,
        out_dir, profile: str = "default", available_num: int = 100, alpha: float = 0.02, gamma: float = 1.0,
        views=None, vgg_weights=None, recipe: str | None = None, lr: float = PARAMETERS["lr"],
        standardize_inputs: bool | None = None, force: bool = False):
    """Train DCHN on ``dataset`` (every view in ``views``; None = all) and write the run folder ``out_dir``.

    ``recipe``: ``"authors"`` (what the authors' released code does) or ``"hashbook"`` (ours), None = the
    profile's (``paper``: authors); :data:`RECIPES` lists what each changes, ``standardize_inputs`` (None = the
    recipe's) overrides one of them. The record's ``settings`` holds ``recipe`` and ``conventions``.

    Split: the data layer's ``"dchn"`` protocol where it defines one for the dataset, else the dataset's default
    (recorded as ``settings["split_protocol"]``). Evaluation: mAP over the whole retrieval set with protocol
    ``"dchn"`` (AP over the whole list / R; queries without relevant items left out), ties by index, every
    ordered pair of distinct views; ``also`` adds the ``deephash`` mAP@all of the same codes and the ridge
    baseline trained on the same targets. Returns the :class:`~hashlib_core.records.RunResult`.
    """
    from ..records.run import claim_out_dir, finish_run, run_identity

    # before any training: refuse an out_dir holding a finished run with other settings (force=True replaces it)
    out_dir = claim_out_dir(out_dir, run_identity(METHOD, dataset=dataset, bits=bits, seed=seed, epochs=epochs,
                                                  profile=profile,
                                                  params={k: v for k, v in locals().items() if k in PARAMETERS}),
                            force=force)

    settings, dev, ds, split_protocol, chosen, sham, sham_seconds = _prepare(
        dataset=dataset, bits=bits, seed=seed, epochs=epochs, device=device, data_root=data_root, profile=profile,
        available_num=available_num, alpha=alpha, gamma=gamma, views=views, recipe=recipe, lr=lr,
        standardize_inputs=standardize_inputs)
    trainer = _Trainer(ds, sham, settings, seed=seed, alpha=alpha, device=dev, vgg_weights=vgg_weights)
    nets = {}
    for view in progress(chosen, desc=f"DCHN {ds.name} views"):
        nets[view] = trainer.train(view)
    query = {v: trainer.encode(nets[v], v, "query") for v in chosen}
    retrieval = {v: trainer.encode(nets[v], v, "retrieval") for v in chosen}
    ridge_entry, ridge_notes = _ridge_baseline(ds, chosen, sham, settings["ridge"])
    also = [{"label": "deephash mAP@all", "protocol": "deephash", "topk": None, "ties": "index"}]
    if ridge_entry is not None:
        also.append(ridge_entry)
    record_settings = _base_settings(settings, profile=profile, seed=seed, split_protocol=split_protocol,
                                     available_num=available_num, alpha=alpha, gamma=gamma, views=chosen,
                                     vgg_weights=vgg_weights, sham=sham, sham_seconds=sham_seconds, nets=nets)
    record_settings["ridge_baseline"] = ridge_notes
    train_seconds = sham_seconds + sum(net.train_seconds for net in nets.values())
    pairs = [(a, b) for a in chosen for b in chosen if a != b]
    return finish_run(out_dir=out_dir, method=METHOD, dataset=ds, bits=int(bits), seed=seed, profile=profile,
                      epochs=settings["epochs"], train_seconds=train_seconds, device=describe_device(dev),
                      query_codes=query, retrieval_codes=retrieval, protocol="dchn", topk=None, ties="index",
                      pairs=pairs, also=also, settings=record_settings, history=_history_rows(nets),
                      artifacts={"networks": nets, "sham": sham, "dataset": ds})


def add_view_experiment(*, dataset: str, bits: int, seed: int = 0, epochs: int | None = None, device="auto",
                        data_root=None, out_dir, profile: str = "default", available_num: int = 100,
                        alpha: float = 0.02, gamma: float = 1.0, views=None, new_view: str | None = None,
                        vgg_weights=None, retrain: bool = True, recipe: str | None = None,
                        lr: float = PARAMETERS["lr"], standardize_inputs: bool | None = None,
                        force: bool = False):
    """DCHN's selling point, measured: train k views, then add view k+1 by training only its network.

    ``views`` (None = all of the dataset) are the k+1 views; ``new_view`` (None = the last of them) is added
    last. Before and after the addition every old network's state dict and every old code array (query and
    retrieval) is hashed (SHA-256); the flags say whether they are bit-identical. With ``retrain=True`` all k+1
    networks are also trained again from scratch (what a joint method must do), timed, and compared with the
    incremental ones. Writes ``new_view.json`` (hashes, flags, timings) and then the usual run folder
    (``metrics.json``: mAP over every ordered pair of the k+1 views); the same summary is in
    ``record["settings"]["new_view"]`` and in ``result.artifacts["new_view"]``.
    """
    from ..records.run import claim_out_dir, finish_run, run_identity

    # before any training: refuse an out_dir holding a finished run with other settings (force=True replaces it)
    out_dir = claim_out_dir(out_dir, run_identity(
        METHOD, dataset=dataset, bits=bits, seed=seed, epochs=epochs, profile=profile,
        params={k: v for k, v in locals().items() if k in PARAMETERS or k in ("new_view", "retrain")}), force=force)

    settings, dev, ds, split_protocol, chosen, sham, sham_seconds = _prepare(
        dataset=dataset, bits=bits, seed=seed, epochs=epochs, device=device, data_root=data_root, profile=profile,
        available_num=available_num, alpha=alpha, gamma=gamma, views=views, recipe=recipe, lr=lr,
        standardize_inputs=standardize_inputs)
    if len(chosen) < 3:
        raise ValueError(f"the new-view experiment needs at least three views (k >= 2 old + 1 new); "
                         f"{ds.name} has {chosen}")
    new_view = chosen[-1] if new_view is None else new_view
    if new_view not in chosen:
        raise ValueError(f"new_view={new_view!r} is not one of the views {chosen}")
    old_views = [v for v in chosen if v != new_view]
    trainer = _Trainer(ds, sham, settings, seed=seed, alpha=alpha, device=dev, vgg_weights=vgg_weights)

    def snapshot(nets_):
        out = {}
        for v in old_views:
            out[v] = {"network": network_sha256(nets_[v]),
                      "query_codes": sha256_array(trainer.encode(nets_[v], v, "query")),
                      "retrieval_codes": sha256_array(trainer.encode(nets_[v], v, "retrieval"))}
        return out

    nets = {}
    t0 = time.perf_counter()
    for view in progress(old_views, desc=f"DCHN {ds.name}: {len(old_views)} old views"):
        nets[view] = trainer.train(view)
    old_seconds = time.perf_counter() - t0
    before = snapshot(nets)
    old_codes = {v: (trainer.encode(nets[v], v, "query"), trainer.encode(nets[v], v, "retrieval")) for v in old_views}

    t0 = time.perf_counter()
    nets[new_view] = trainer.train(new_view)
    add_seconds = time.perf_counter() - t0
    after = snapshot(nets)

    summary = {
        "dataset": ds.name, "bits": int(bits), "old_views": old_views, "new_view": new_view,
        "hashes_before": before, "hashes_after": after,
        "old_networks_identical": all(before[v]["network"] == after[v]["network"] for v in old_views),
        "old_codes_identical": all(before[v][k] == after[v][k] for v in old_views
                                   for k in ("query_codes", "retrieval_codes")),
        "new_view_network_sha256": network_sha256(nets[new_view]),
        "seconds": {"train_old_views": round(old_seconds, 3), "add_new_view": round(add_seconds, 3),
                    "per_view": {v: round(nets[v].train_seconds, 3) for v in chosen}},
    }
    if retrain:
        t0 = time.perf_counter()
        fresh = {v: trainer.train(v) for v in progress(chosen, desc=f"DCHN {ds.name}: retrain all")}
        summary["seconds"]["retrain_all"] = round(time.perf_counter() - t0, 3)
        summary["retrained_identical"] = {v: network_sha256(fresh[v]) == network_sha256(nets[v]) for v in chosen}
        summary["addition_speedup"] = round(summary["seconds"]["retrain_all"] / max(add_seconds, 1e-9), 2)
        del fresh

    query = {v: old_codes[v][0] for v in old_views}
    retrieval = {v: old_codes[v][1] for v in old_views}
    query[new_view] = trainer.encode(nets[new_view], new_view, "query")
    retrieval[new_view] = trainer.encode(nets[new_view], new_view, "retrieval")
    record_settings = _base_settings(settings, profile=profile, seed=seed, split_protocol=split_protocol,
                                     available_num=available_num, alpha=alpha, gamma=gamma, views=chosen,
                                     vgg_weights=vgg_weights, sham=sham, sham_seconds=sham_seconds, nets=nets)
    record_settings["experiment"] = "new_view"
    record_settings["new_view"] = summary
    pairs = [(a, b) for a in chosen for b in chosen if a != b]
    result = finish_run(out_dir=out_dir, method=METHOD, dataset=ds, bits=int(bits), seed=seed, profile=profile,
                        epochs=settings["epochs"], train_seconds=sham_seconds + old_seconds + add_seconds,
                        device=describe_device(dev), query_codes=query, retrieval_codes=retrieval, protocol="dchn",
                        topk=None, ties="index", pairs=pairs,
                        also=[{"label": "deephash mAP@all", "protocol": "deephash", "topk": None, "ties": "index"}],
                        settings=record_settings, history=_history_rows(nets),
                        artifacts={"networks": nets, "sham": sham, "dataset": ds, "new_view": summary},
                        files={"new_view.json": summary})
    return result
