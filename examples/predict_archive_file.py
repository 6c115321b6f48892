"""An astronomer's job: credible intervals for stars of a Gaia archive XP continuous file.

    python examples/predict_archive_file.py INPUT.csv OUTPUT.fits [--model DIR]

Equivalent to ``bayesxp predict --input INPUT.csv --output OUTPUT.fits``; the output has one row per star
with ``<q>_mean, <q>_std, <q>_q025 ... <q>_q975`` for mass, age, teff, logg, m_h, ``mass_age_corr`` and a
``status`` that says why a star got no prediction.
"""

from __future__ import annotations

import argparse

from bayesxp.predict import predict_file


def main(input_path: str, output_path: str, model_path: str | None = None, num_samples: int = 200) -> dict:
    result = predict_file(input_path, output_path, model_path=model_path, num_samples=num_samples, progress=False)
    print(f"{result['stars']} stars, {result['ok']} predicted, failures: {result['failed'] or 'none'}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--model", default=None)
    parser.add_argument("--num-samples", type=int, default=200)
    args = parser.parse_args()
    main(args.input, args.output, args.model, args.num_samples)
