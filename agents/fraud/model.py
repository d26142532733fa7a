"""The fraud model: a scikit-learn logistic regression trained on the seeded synthetic
transactions, kept as one JSON file and versioned by the sha256 of its bytes.

Training is deterministic (same seed, same library versions: same bytes, same version), so a
worker that finds no model file trains one on first use; every worker process then loads it once.
The file holds numbers only (the scaler's and the classifier's parameters), never a pickle, so
loading a model file can run no code. Only activity code imports this module (scikit-learn).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

from agents.fraud import synthetic
from agents.fraud.features import FEATURE_NAMES, FeatureVector, features_of

MODEL_FILE = "fraud-model.json"
MODEL_FORMAT = "fraud-logistic-regression/1"
# Parameters are written to this many significant digits: the last bits of a float differ
# between BLAS builds, and the file's hash should not.
SIGNIFICANT_DIGITS = 10
# A feature whose contribution to the log-odds is at least this is named as a driver.
DRIVER_LOG_ODDS = 1.0
DRIVER_LABELS = {
    "log_amount": "large amount",
    "night": "night-time",
    "foreign": "merchant abroad",
    "category_risk": "risky merchant category",
    "log_card_age_days": "new card",
    "transactions_24h": "many transactions in 24 h",
}


@dataclass(frozen=True)
class Score:
    probability: float
    drivers: list[str]


@dataclass(frozen=True)
class FraudModel:
    version: str  # "sha256:<hex>" of the model file's bytes
    scaler: StandardScaler
    classifier: LogisticRegression

    def score(self, features: FeatureVector) -> Score:
        scaled = self.scaler.transform(np.array([features.values()]))
        probability = float(self.classifier.predict_proba(scaled)[0, 1])
        contributions = self.classifier.coef_[0] * scaled[0]
        ranked = sorted(zip(contributions, FEATURE_NAMES, strict=True), reverse=True)
        drivers = [DRIVER_LABELS[name] for value, name in ranked[:3] if value >= DRIVER_LOG_ODDS]
        return Score(round(probability, 6), drivers)


def version_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def trained_model_bytes(seed: int = synthetic.DEFAULT_SEED, rows: int = synthetic.DEFAULT_ROWS) -> bytes:
    """Train on the synthetic set of `seed` and return the model file's bytes."""
    txns, labels = synthetic.transactions(seed, rows)
    x = np.array([features_of(t).values() for t in txns])
    y = np.array(labels)
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegression(max_iter=1000).fit(scaler.transform(x), y)
    auc = roc_auc_score(y, classifier.predict_proba(scaler.transform(x))[:, 1])
    document = {
        "format": MODEL_FORMAT,
        "features": list(FEATURE_NAMES),
        "scaler": {"mean": _rounded(scaler.mean_), "scale": _rounded(scaler.scale_)},
        "coefficients": _rounded(classifier.coef_[0]),
        "intercept": _rounded(classifier.intercept_)[0],
        "training": {
            "seed": seed,
            "rows": rows,
            "frauds": int(y.sum()),
            "train_auc": round(float(auc), 4),
            "library": f"scikit-learn {importlib.metadata.version('scikit-learn')}",
        },
    }
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


def ensure_model_file(directory: Path, seed: int = synthetic.DEFAULT_SEED) -> Path:
    """The model file in `directory`, trained and written there first if it is not there yet.

    Written to a temporary file and renamed, so a reader never sees half a model; two processes
    training at once write the same bytes, and the last rename wins harmlessly.
    """
    path = directory / MODEL_FILE
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    data = trained_model_bytes(seed)
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".training-", delete=False) as out:
        out.write(data)
    os.replace(out.name, path)
    return path


def read_model(path: Path) -> FraudModel:
    """A scorer from a model file; its version is the sha256 of exactly the bytes read."""
    data = path.read_bytes()
    document = json.loads(data)
    if document.get("format") != MODEL_FORMAT or document.get("features") != list(FEATURE_NAMES):
        raise ValueError(f"{path} is not a {MODEL_FORMAT} model over {', '.join(FEATURE_NAMES)}")
    scaler = StandardScaler()
    scaler.mean_ = np.array(document["scaler"]["mean"])
    scaler.scale_ = np.array(document["scaler"]["scale"])
    scaler.var_ = scaler.scale_**2
    scaler.n_features_in_ = len(FEATURE_NAMES)
    classifier = LogisticRegression()
    classifier.coef_ = np.array([document["coefficients"]])
    classifier.intercept_ = np.array([document["intercept"]])
    classifier.classes_ = np.array([0, 1])
    classifier.n_features_in_ = len(FEATURE_NAMES)
    return FraudModel(version_of(data), scaler, classifier)


_loaded: dict[Path, FraudModel] = {}
_loading = threading.Lock()


def model_in(directory: Path) -> FraudModel:
    """The model of `directory`, trained if need be and loaded once per process."""
    key = directory.resolve()
    with _loading:
        if key not in _loaded:
            _loaded[key] = read_model(ensure_model_file(key))
        return _loaded[key]


def _rounded(values: Any) -> list[float]:
    return [float(f"{float(v):.{SIGNIFICANT_DIGITS}g}") for v in values]
