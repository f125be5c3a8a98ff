"""Generate the embedded synthetic example table ``synthetic_eq1.csv`` (and its ``.json``).

The table is SYNTHETIC: 196 runs on the paper's 7 x 4 x 7 grid (pre-training fractions of
1.28M images x four DeiT sizes x fine-tuning fractions of 50,000 images), with error
rates drawn from paper Eq. 1 at the parameters in ``TRUTH`` times log-normal noise of
``NOISE_SIGMA`` (2%), from seed ``SEED``. Regenerate with::

    python -m scalefit.datasets.make_synthetic

A test checks that this script reproduces the committed table exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

TRUTH = {
    "E_inf": 0.05,
    "alpha": 0.4,
    "lambda_p": 0.1,
    "beta": 0.5,
    "lambda_m": 0.006,
    "gamma": 0.35,
    "lambda_f": 0.25,
}
NOISE_SIGMA = 0.02
SEED = 20261123
FRACTIONS = (0.05, 0.10, 0.25, 0.33, 0.50, 0.70, 1.00)
PRETRAIN_IMAGES = 1_281_167
FINETUNE_IMAGES = 50_000
MODEL_PARAMS = (2.6e6, 10.0e6, 22.1e6, 38.8e6)
HERE = Path(__file__).resolve().parent


def grid() -> pd.DataFrame:
    """The 196 configurations (pre-training images, parameters, fine-tuning images)."""
    dp = np.round(np.array(FRACTIONS) * PRETRAIN_IMAGES)
    df = np.round(np.array(FRACTIONS) * FINETUNE_IMAGES)
    Dp, M, Df = np.meshgrid(dp, MODEL_PARAMS, df, indexing="ij")
    return pd.DataFrame({"Dp": Dp.ravel(), "M": M.ravel(), "Df": Df.ravel()})


def generate() -> tuple[pd.DataFrame, dict]:
    """The synthetic table and its provenance record."""
    from scalefit import paper_error

    runs = grid()
    mean = paper_error.evaluate(TRUTH, runs)
    rng = np.random.default_rng(SEED)
    runs["error"] = np.round(mean * np.exp(rng.normal(0.0, NOISE_SIGMA, len(runs))), 6)
    runs["error_noise_free"] = np.round(mean, 6)
    provenance = {
        "name": "synthetic_eq1",
        "synthetic": True,
        "description": "SYNTHETIC runs from paper Eq. 1 with known parameters and 2% log-normal noise",
        "law": "paper_error",
        "truth": TRUTH,
        "noise": f"multiplicative log-normal, sigma={NOISE_SIGMA}",
        "seed": SEED,
        "grid": "Dp = {5,10,25,33,50,70,100}% of 1,281,167; M = 2.6M/10.0M/22.1M/38.8M; Df = {5,...,100}% of 50,000",
        "command": "python -m scalefit.datasets.make_synthetic",
    }
    return runs, provenance


def main() -> None:
    runs, provenance = generate()
    runs.to_csv(HERE / "synthetic_eq1.csv", index=False)
    (HERE / "synthetic_eq1.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {len(runs)} synthetic runs to {HERE / 'synthetic_eq1.csv'}")


if __name__ == "__main__":
    main()
