"""The training-free baselines as methods: one shared run for ``lsh``, ``itq``, ``pca_rotation``, ``cca``,
``ridge`` and ``classifier`` (each also a module of its own, ``hashlib_core.methods.<name>``, for the registry,
the CLI and the grid; ``notebooks/baseline.ipynb`` runs any of them by its ``method`` parameter).

The six differ only in the encoder that turns training features into codes (``hashlib_core.baselines``); loading,
frozen image features, the split, the evaluation and the run folder are the same for all, so they live here once.

Applicability, decided by the views of the loaded dataset (after ``views=``):

- one view (image sets such as cifar10, fashion_mnist, mfeat_digits, or a multi-view set restricted to one view):
  ``lsh`` (Gaussian projection of the centred features), ``itq`` (PCA-ITQ), ``pca_rotation`` (PCA, random
  rotation), ``ridge`` and ``classifier`` (SHAM target codes); direction ``v->v``;
- two or more views (image-text and multi-view sets): ``cca`` (CCA / generalised CCA, then a Gaussian projection:
  cross-view LSH), ``itq`` (CCA-ITQ), ``pca_rotation`` (common space, random rotation), ``ridge`` and
  ``classifier`` (one code per view, aligned through the shared SHAM codes); every ordered pair of distinct views.

A raw-image view becomes frozen features first (``features="efficientnet_lite0"``, the default, or
``"pixels"``), cached with their provenance (:mod:`hashlib_core.features`). Seeds: the split (and the subset) come
from ``load_dataset(seed=seed)``; every random matrix and hold-out of an encoder from ``seed`` too.
Evaluation: the main one is mAP over the whole ranking, protocol ``deephash`` (queries without a relevant item
count 0), expected ties (the benchmark chapter's main evaluation); ``also`` adds index ties and the ``dchn``
protocol (queries without a relevant item left out). Nothing is trained by gradient descent, so ``epochs`` must
be None; ``train_seconds`` is the time spent fitting the encoder (frozen-feature extraction is recorded apart).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from . import check_profile_and_parameters

BASELINES = ("lsh", "itq", "pca_rotation", "cca", "ridge", "classifier")
SUPERVISED = ("ridge", "classifier")
SINGLE_VIEW_ONLY = ("lsh",)
CROSS_VIEW_ONLY = ("cca",)
FEATURE_CHOICES = ("efficientnet_lite0", "pixels")
#: the notebook every baseline grid spec executes
NOTEBOOK = "baseline"

#: parameters every baseline takes (None: the profile's / the dataset's)
COMMON_PARAMETERS: dict[str, Any] = {"views": None, "features": None, "image_size": None, "subset": None}
COMMON_HELP = {
    "views": "view name(s) to use (None = every view of the dataset; one view = single-view retrieval)",
    "features": "raw-image views only: 'efficientnet_lite0' (frozen ImageNet features, default) or 'pixels'",
    "image_size": "EfficientNet-Lite0 input side in pixels (None = the profile's: 64 smoke, 128 default, 224 paper)",
    "subset": "seeded stratified subset of the dataset before splitting (None = the profile's for image sets: "
              "600 smoke, 3000 default, all for paper; all rows for feature sets)",
}
_REG_HELP = ("cross-view only: ridge on each view's covariance, relative to its mean variance (None = chosen on a "
             "hold-out of the training rows)")
_SHAM_HELP = {"available_num": "real label rows added to SHAM's class rows (DCHN_100: 100)",
              "gamma": "SHAM weight of ||B - Y W||^2 (DCHN's 1.0)"}
METHOD_PARAMETERS: dict[str, dict[str, Any]] = {
    "lsh": {},
    "itq": {"iterations": 50, "reg": None},
    "pca_rotation": {"reg": None},
    "cca": {"reg": None},
    "ridge": {"ridge": None, "available_num": 100, "gamma": 1.0},
    "classifier": {"l2": None, "available_num": 100, "gamma": 1.0},
}
METHOD_HELP: dict[str, dict[str, str]] = {
    "lsh": {},
    "itq": {"iterations": "ITQ alternations (the paper's 50)", "reg": _REG_HELP},
    "pca_rotation": {"reg": _REG_HELP},
    "cca": {"reg": _REG_HELP},
    "ridge": {"ridge": "ridge penalty on standardised features (None = chosen on a hold-out of the training rows)",
              **_SHAM_HELP},
    "classifier": {"l2": "L2 weight of the logistic regression (None = chosen on a hold-out of the training rows)",
                   **_SHAM_HELP},
}

#: what each profile sets (raw-image sets only; feature sets are used whole at every profile)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {"image_size": 64, "image_subset": 600},
    "default": {"image_size": 128, "image_subset": 3000},
    "paper": {"image_size": 224, "image_subset": None},
}
SHAM_SETTINGS = {"iterations": 50, "monotone": True}
MAIN = {"protocol": "deephash", "topk": None, "ties": "expected"}
ALSO = [{"label": "deephash mAP@all, index ties", "protocol": "deephash", "topk": None, "ties": "index"},
        {"label": "dchn mAP@all", "protocol": "dchn", "topk": None, "ties": "index"}]


def parameters_of(method: str) -> dict[str, Any]:
    """The ``PARAMETERS`` of baseline ``method`` (common ones first)."""
    _check_method(method)
    return {**COMMON_PARAMETERS, **METHOD_PARAMETERS[method]}


def help_of(method: str) -> dict[str, str]:
    """One line per parameter of :func:`parameters_of`."""
    _check_method(method)
    return {**COMMON_HELP, **METHOD_HELP[method]}


def _check_method(method: str) -> None:
    if method not in BASELINES:
        raise ValueError(f"method must be one of the training-free baselines {BASELINES}, got {method!r}")


# ---------------------------------------------------------------------------------------------- the grid

def _present(name: str) -> bool:
    try:
        from ..data import dataset_status

        return dataset_status(name)["status"] == "present"
    except Exception:  # an unreadable data root or an unknown name: not in the grid
        return False


def dataset_kinds() -> dict[str, str]:
    """Every registered dataset present under the data root -> ``"cross-view"`` (image-text, multi-view) or
    ``"image"`` (raw images); label-only sets are left out."""
    from ..data import get_entry, list_datasets

    kinds = {}
    for name in list_datasets():
        kind = get_entry(name).kind
        if kind in ("image-text", "multi-view", "image") and _present(name):
            kinds[name] = "image" if kind == "image" else "cross-view"
    return kinds


def applies(method: str, kind: str) -> bool:
    """Whether baseline ``method`` runs on a dataset of ``kind`` (``"image"`` or ``"cross-view"``)."""
    _check_method(method)
    return not ((kind == "cross-view" and method in SINGLE_VIEW_ONLY) or
                (kind == "image" and method in CROSS_VIEW_ONLY))


def run_label(method: str, features: str | None = None) -> str:
    """The grid label of a baseline run: ``<method>`` on feature sets, ``<method>-<features>`` on raw-image sets
    (the benchmark's variant is the part after ``<method>-``)."""
    return method if features is None else f"{method}-{features}"


def _spec(method: str, dataset: str, bits: int, seed: int, features: str | None = None, **extra) -> dict:
    params = {"method": method, **({"features": features} if features else {}), **extra}
    return {"dataset": dataset, "bits": bits, "seed": seed, "params": params, "notebook": NOTEBOOK,
            "label": run_label(method, features)}


#: code lengths of every run; seeds 1 and 2 are added at :data:`SEEDED_BITS`
GRID_BITS = (16, 32, 64, 128)
SEEDED_BITS = (32, 64)
EXTRA_SEEDS = (1, 2)


def grid_for(method: str, *, kinds: dict[str, str] | None = None) -> dict[str, list[dict]]:
    """``GRID`` of baseline ``method``: ``smoke`` = one 16-bit run on mfeat (lsh: its ``pix`` view alone);
    ``default`` and ``paper`` = every dataset present where the method applies (raw-image sets once per feature
    extractor), 16/32/64/128 bits with seed 0 and seeds 1, 2 at 32 and 64 bits (``paper`` at the full settings)."""
    _check_method(method)
    kinds = dataset_kinds() if kinds is None else kinds
    smoke = [_spec(method, "mfeat", 16, 0, **({"views": ["pix"]} if method in SINGLE_VIEW_ONLY else {}))]
    full = []
    for dataset, kind in kinds.items():
        if not applies(method, kind):
            continue
        for features in (FEATURE_CHOICES if kind == "image" else (None,)):
            for bits in GRID_BITS:
                for seed in (0, *(EXTRA_SEEDS if bits in SEEDED_BITS else ())):
                    full.append(_spec(method, dataset, bits, seed, features))
    return {"smoke": smoke, "default": full, "paper": [dict(spec) for spec in full]}


# ---------------------------------------------------------------------------------------------- one run

def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def resolve_settings(method: str, profile: str, params: dict) -> dict[str, Any]:
    """``PARAMETERS`` defaults updated with the caller's non-None ``params``, checked; ``ValueError`` naming the
    argument."""
    _check_method(method)
    known = parameters_of(method)
    check_profile_and_parameters(method, profile, params, profiles=PROFILES, parameters=known)
    settings = {**known, **{k: v for k, v in params.items() if v is not None}}
    if settings["features"] is not None and settings["features"] not in FEATURE_CHOICES:
        raise ValueError(f"features must be one of {FEATURE_CHOICES} (or None), got {settings['features']!r}")
    if settings["image_size"] is not None:
        _check_int("image_size", settings["image_size"], 32)
    if settings["subset"] is not None:
        _check_int("subset", settings["subset"], 1)
    if "iterations" in settings:
        _check_int("iterations", settings["iterations"], 1)
    if "available_num" in settings:
        _check_int("available_num", settings["available_num"], 0)
    for name in ("reg",):
        if settings.get(name) is not None and not float(settings[name]) >= 0:
            raise ValueError(f"{name} must be >= 0 or None, got {settings[name]!r}")
    for name in ("ridge", "l2", "gamma"):
        if settings.get(name) is not None and not float(settings[name]) > 0:
            raise ValueError(f"{name} must be > 0 or None, got {settings[name]!r}")
    views = settings["views"]
    if views is not None:
        views = [views] if isinstance(views, str) else list(views)
        if not views or not all(isinstance(v, str) for v in views):
            raise ValueError(f"views must be a view name or a list of view names, got {settings['views']!r}")
        settings["views"] = views
    return settings


def _load(dataset: str, *, data_root, seed: int, settings: dict, profile: str):
    """The dataset with its split; the profile's subset applies to raw-image sets larger than it."""
    from ..data import get_entry, load_dataset

    options = {} if settings["views"] is None else {"views": list(settings["views"])}
    subset = settings["subset"]
    if subset is None and get_entry(dataset).kind == "image":
        cap = PROFILES[profile]["image_subset"]
        if cap is not None:
            whole = load_dataset(dataset, root=data_root, seed=seed, **options)
            subset = cap if whole.n > cap else None
    if subset is not None:
        options["subset"] = int(subset)
    return load_dataset(dataset, root=data_root, seed=seed, **options)


class _Views:
    """The features of every view on the rows a run needs (query, train, retrieval), raw-image views turned into
    frozen features; ``take(view, split)`` -> (n, d) float64."""

    def __init__(self, ds, settings: dict, profile: str, device):
        from ..data import is_image_source
        from ..features import image_view_features

        self.ds = ds
        self.rows = np.unique(np.concatenate([ds.splits[k] for k in ("query", "train", "retrieval")]))
        image_views = [v for v, data in ds.views.items() if is_image_source(data)]
        if settings["features"] is not None and not image_views:
            raise ValueError(f"features={settings['features']!r}: dataset {ds.name!r} has no raw-image view "
                             f"(views {list(ds.views)} are features already); leave features=None")
        if settings["image_size"] is not None and not image_views:
            raise ValueError(f"image_size={settings['image_size']!r}: dataset {ds.name!r} has no raw-image view")
        self.extractor = (settings["features"] or "efficientnet_lite0") if image_views else None
        self.image_size = (settings["image_size"] or PROFILES[profile]["image_size"]) if image_views else None
        self.data, self.info, self.feature_seconds, self.used_device = {}, {}, 0.0, False
        for view, data in ds.views.items():
            if view in image_views:
                values, info = image_view_features(ds, view, self.rows, extractor=self.extractor,
                                                   image_size=self.image_size, device=device)
                self.data[view] = values
                self.info[view] = info
                self.feature_seconds += info["seconds"]
                self.used_device |= self.extractor != "pixels" and info["computed"] > 0
            else:
                self.data[view] = np.asarray(data)[self.rows]
                self.info[view] = {"source": "the dataset's features", "dim": int(data.shape[1])}

    @property
    def names(self) -> list[str]:
        return list(self.data)

    def take(self, view: str, split: str) -> np.ndarray:
        return np.asarray(self.data[view][np.searchsorted(self.rows, self.ds.splits[split])], dtype=np.float64)

    def dims(self) -> dict[str, int]:
        return {view: int(values.shape[1]) for view, values in self.data.items()}


def _check_applicable(method: str, ds, views: list[str]) -> str:
    mode = "single-view" if len(views) == 1 else "cross-view"
    if method in SINGLE_VIEW_ONLY and mode == "cross-view":
        raise ValueError(f"{method} hashes one view at a time (its views share no space); dataset {ds.name!r} "
                         f"has views {views}: pass views='<one view>' for single-view retrieval, or run 'cca' "
                         f"(a common space, then a random projection) for cross-view retrieval")
    if method in CROSS_VIEW_ONLY and mode == "single-view":
        raise ValueError(f"{method} needs at least two views (a common space of paired views); dataset "
                         f"{ds.name!r} has only {views}: use lsh, itq or pca_rotation for one view")
    return mode


def _fit_sham(ds, bits: int, seed: int, settings: dict):
    from ..models.sham import fit_sham

    return fit_sham(ds.labels[ds.splits["train"]], int(bits), dataset=ds.name, gamma=float(settings["gamma"]),
                    available_num=int(settings["available_num"]), seed=seed,
                    iterations=SHAM_SETTINGS["iterations"], monotone=SHAM_SETTINGS["monotone"])


def _fit_encoders(method: str, mode: str, views: _Views, ds, bits: int, seed: int, settings: dict):
    """(view -> encode function, JSON-ready encoder facts, history rows, SHAM or None)."""
    from ..baselines.classifier import ClassifierHash
    from ..baselines.common_space import CrossViewHash
    from ..baselines.itq import ITQHash
    from ..baselines.lsh import LSHHash
    from ..baselines.pca_rotation import PCARotationHash
    from ..baselines.ridge_sham import RidgeShamHash

    names = views.names
    train = {v: views.take(v, "train") for v in names}
    if method in SUPERVISED:
        sham = _fit_sham(ds, bits, seed, settings)
        labels = ds.labels[ds.splits["train"]]
        encoders = {}
        for v in names:
            if method == "ridge":
                encoders[v] = RidgeShamHash(sham, ridge=settings["ridge"], seed=seed).fit(train[v], labels)
            else:
                encoders[v] = ClassifierHash(sham, l2=settings["l2"], seed=seed).fit(train[v], labels)
        return ({v: e.encode for v, e in encoders.items()}, {v: e.describe() for v, e in encoders.items()}, [],
                sham)
    if mode == "cross-view":
        if method == "lsh":  # unreachable: _check_applicable refuses it
            raise ValueError("lsh is single-view only")
        cross_mode = {"cca": "lsh", "itq": "itq", "pca_rotation": "rotation"}[method]
        hasher = CrossViewHash(cross_mode, bits, seed, reg=settings.get("reg"),
                               iterations=settings.get("iterations", 50)).fit(train)
        history = ([{"iteration": t + 1, "quantization loss": value} for t, value in enumerate(hasher.itq_.loss)]
                   if hasher.itq_ is not None else [])
        return ({v: (lambda X, v=v: hasher.encode(v, X)) for v in names}, {"shared": hasher.describe()}, history,
                None)
    if settings.get("reg") is not None:
        raise ValueError(f"reg={settings['reg']!r} applies to cross-view runs only; dataset {ds.name!r} has the "
                         f"single view {names}")
    (v,) = names
    if method == "lsh":
        hasher = LSHHash(bits, seed).fit(train[v])
    elif method == "itq":
        hasher = ITQHash(bits, seed, iterations=settings["iterations"]).fit(train[v])
    else:
        hasher = PCARotationHash(bits, seed).fit(train[v])
    history = ([{"iteration": t + 1, "quantization loss": value} for t, value in enumerate(hasher.result_.loss)]
               if method == "itq" else [])
    return {v: hasher.encode}, {v: hasher.describe()}, history, None


def run(method: str, *, dataset: str, bits: int, seed: int = 0, epochs: int | None = None, device="auto",
        data_root=None, out_dir, profile: str = "default", force: bool = False, **params):
    """Fit baseline ``method`` on the training rows of ``dataset``, encode the query and retrieval items of every
    view and write the run folder ``out_dir`` (see the module docstring); returns the RunResult."""
    from ..records.run import claim_out_dir, finish_run, run_identity
    from ..train import describe_device, resolve_device, seed_everything

    settings = resolve_settings(method, profile, params)
    bits = _check_int("bits", bits, 1)
    seed = _check_int("seed", seed, 0)
    if epochs is not None:
        raise ValueError(f"epochs={epochs!r}: {method} is training-free (nothing runs for epochs); leave it None")
    # before any work: refuse an out_dir holding a finished run with other settings (force=True replaces it)
    out_dir = claim_out_dir(out_dir, run_identity(method, dataset=dataset, bits=bits, seed=seed, epochs=epochs,
                                                  profile=profile, params={**parameters_of(method), **params}),
                            force=force)
    seed_everything(seed)
    dev = resolve_device(device)
    ds = _load(dataset, data_root=data_root, seed=seed, settings=settings, profile=profile)
    if not ds.views:
        raise ValueError(f"dataset {dataset!r} has no view to hash (a label-only set)")
    views = _Views(ds, settings, profile, dev)
    mode = _check_applicable(method, ds, views.names)
    started = time.perf_counter()
    encode, encoder_facts, history, sham = _fit_encoders(method, mode, views, ds, bits, seed, settings)
    fit_seconds = time.perf_counter() - started
    query = {v: encode[v](views.take(v, "query")) for v in views.names}
    retrieval = {v: encode[v](views.take(v, "retrieval")) for v in views.names}
    pairs = ([(a, b) for a in views.names for b in views.names if a != b] if mode == "cross-view"
             else [(views.names[0], views.names[0])])
    variant = "base" if views.extractor is None else views.extractor
    record_settings = {
        "baseline": method, "training_free": True, "variant": variant, "mode": mode, "profile": profile,
        "views": views.names, "view_dims": views.dims(), "features": views.info,
        "feature_extractor": views.extractor, "image_size": views.image_size,
        "split_protocol": ds.protocol, "subset": ds.subset,
        "parameters": {k: v for k, v in settings.items()}, "encoder": encoder_facts,
        "fit_seconds": round(fit_seconds, 3), "feature_seconds": round(views.feature_seconds, 3),
        "main_evaluation": dict(MAIN),
    }
    if sham is not None:
        record_settings["sham"] = sham.summary()
    record_device = describe_device(dev) if views.used_device else "cpu"
    return finish_run(out_dir=out_dir, method=method, dataset=ds, bits=bits, seed=seed, profile=profile,
                      epochs=None, train_seconds=fit_seconds, device=record_device, query_codes=query,
                      retrieval_codes=retrieval, protocol=MAIN["protocol"], topk=MAIN["topk"], ties=MAIN["ties"],
                      pairs=pairs, also=ALSO, settings=record_settings, history=history,
                      artifacts={"dataset": ds, "sham": sham})


def method_entry(method: str):
    """What a baseline's module exposes, so that ``methods/<method>.py`` is only its name and docstring:
    ``(PARAMETERS, PARAMETER_HELP, PROFILES, GRID, run)``, where ``run`` has the standard method signature and calls
    :func:`run` of ``method``."""
    _check_method(method)

    def run_method(*, dataset: str, bits: int, seed: int = 0, epochs: int | None = None, device="auto",
                   data_root=None, out_dir, profile: str = "default", force: bool = False, **params):
        """Run the baseline once and write the run folder ``out_dir`` (see :func:`training_free.run`); ``force``
        replaces a finished run folder made with other settings."""
        return run(method, dataset=dataset, bits=bits, seed=seed, epochs=epochs, device=device,
                   data_root=data_root, out_dir=out_dir, profile=profile, force=force, **params)

    run_method.__name__ = run_method.__qualname__ = "run"
    return parameters_of(method), help_of(method), PROFILES, grid_for(method), run_method


def run_baseline(method: str, **arguments):
    """What ``notebooks/baseline.ipynb`` calls: :func:`run` of ``method`` with the notebook's arguments, where a
    method parameter left at None means the method's default and a parameter the method does not take must be
    None (``ValueError`` naming it otherwise)."""
    _check_method(method)
    fixed = {"dataset", "bits", "seed", "epochs", "device", "data_root", "out_dir", "profile", "force"}
    known = parameters_of(method)
    given = {k: v for k, v in arguments.items() if k not in fixed}
    foreign = sorted(k for k, v in given.items() if k not in known and v is not None)
    if foreign:
        raise ValueError(f"{method} has no parameter(s) {foreign} (set them to None); known: {sorted(known)}")
    passed = {k: v for k, v in arguments.items() if k in fixed or (k in known and v is not None)}
    return run(method, **passed)

