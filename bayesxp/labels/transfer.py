"""Label transfer: mass and age, with uncertainties, from APOGEE labels (Teff, logg, [M/H], [alpha/M]).

DistMass (Stone-Martinez et al. 2024) cannot be had here, so this module rebuilds what it did: a neural
network trained on asteroseismic masses and ages that reads APOGEE labels. It returns a *joint* Gaussian
over (ln mass, ln age) per star, with a correlation, from a deep ensemble of small networks:

- each member outputs a mean, a standard deviation per quantity and a correlation; the training loss is
  the bivariate Gaussian NLL of the seismic truth with the truth's own error added to the predicted
  covariance, so the predicted spread is that of the *true* value given the labels;
- stars without a seismic age contribute through the mass marginal only;
- logg is the seismic logg in the training catalogues but ASPCAP's spectroscopic logg where the model is
  applied; each training batch therefore adds Gaussian noise of the measured ASPCAP-minus-seismic
  scatter to logg (errors in variables), so the predictive spread includes it;
- the ensemble mixture is moment-matched: mean of the means, mean covariance plus the covariance of the
  means (the epistemic part, reported separately).

A user's real DistMass file replaces these labels through :func:`bayesxp.io.distmass.read_distmass`
and the same ``mass, mass_err, age_gyr, age_err`` columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from bayesxp.config import from_dict, to_dict
from bayesxp.errors import ConfigError, ModelFileError
from bayesxp.io.tables import atomic_path

__all__ = ["TransferConfig", "LabelTransfer", "TransferPrediction", "FEATURES"]

#: Input labels, in this order.
FEATURES = ("teff", "logg", "fe_h", "alpha_m")

_LOG_STD_RANGE = (-6.0, 1.5)
_MAX_CORRELATION = 0.98


@dataclass(frozen=True)
class TransferConfig:
    """Hyper-parameters of the label-transfer ensemble.

    Attributes:
        hidden: Width of each of the two hidden layers.
        n_members: Ensemble size.
        epochs: Passes over the training stars.
        batch_size: Stars per step.
        learning_rate: AdamW peak learning rate (cosine decay to zero).
        weight_decay: AdamW weight decay.
        logg_noise: Std of the Gaussian noise added to the training logg [dex] (seismic -> ASPCAP);
            None means "use the value measured from the catalogues".
        seed: Seed of the initialisation, batch order and logg noise.
        domain_padding: A star is inside the training domain when each label lies within the 0.5-99.5
            percentile range of the training labels widened by this fraction of its width on each side.
    """

    hidden: int = 64
    n_members: int = 5
    epochs: int = 200
    batch_size: int = 1024
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    logg_noise: float | None = None
    seed: int = 0
    domain_padding: float = 0.2


class _Ensemble(nn.Module):
    """K independent two-hidden-layer MLPs evaluated together with batched matmuls.

    Input ``(K, B, 4)`` standardised labels (each member its own batch); output per member the mean
    ``(K, B, 2)``, log std ``(K, B, 2)`` and correlation ``(K, B)``.
    """

    def __init__(self, n_members: int, hidden: int, seed: int) -> None:
        super().__init__()
        sizes = [(len(FEATURES), hidden), (hidden, hidden), (hidden, 5)]
        weights, biases = [], []
        for fan_in, fan_out in sizes:
            w = torch.empty(n_members, fan_in, fan_out)
            b = torch.empty(n_members, 1, fan_out)
            for k in range(n_members):  # nn.Linear's default initialisation, one seed per member
                layer = nn.Linear(fan_in, fan_out)
                generator = torch.Generator().manual_seed(seed + 1000 * k + fan_out)
                bound = 1.0 / np.sqrt(fan_in)
                with torch.no_grad():
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-bound, bound, generator=generator)
                w[k] = layer.weight.detach().T
                b[k, 0] = layer.bias.detach()
            weights.append(nn.Parameter(w))
            biases.append(nn.Parameter(b))
        self.weights = nn.ParameterList(weights)
        self.biases = nn.ParameterList(biases)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = x  # (K, B, 4)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)  # (K, B, out)
            if i < len(self.weights) - 1:
                h = torch.nn.functional.silu(h)
        log_std = h[..., 2:4].clamp(*_LOG_STD_RANGE)
        return h[..., :2], log_std, _MAX_CORRELATION * torch.tanh(h[..., 4])


def bivariate_nll(
    mean: torch.Tensor, log_std: torch.Tensor, corr: torch.Tensor, y: torch.Tensor, y_err: torch.Tensor
) -> torch.Tensor:
    """Per-star NLL of ``y`` under N(mean, Sigma_pred + diag(y_err^2)); mass-only where ``y[:, 1]`` is NaN.

    Args:
        mean: ``(B, 2)`` predicted (ln mass, ln age).
        log_std: ``(B, 2)`` predicted log standard deviations.
        corr: ``(B,)`` predicted correlation.
        y: ``(B, 2)`` truth; the age column may be NaN.
        y_err: ``(B, 2)`` the truth's own 1-sigma error in the same (log) units.

    Returns:
        ``(B,)`` negative log likelihoods (constant terms dropped).
    """
    std = log_std.exp()
    has_age = torch.isfinite(y[:, 1])
    var_m = std[:, 0] ** 2 + y_err[:, 0] ** 2
    var_a = std[:, 1] ** 2 + torch.nan_to_num(y_err[:, 1]) ** 2
    cov = corr * std[:, 0] * std[:, 1]
    d_m = y[:, 0] - mean[:, 0]
    d_a = torch.nan_to_num(y[:, 1]) - mean[:, 1]
    det = var_m * var_a - cov**2
    joint = 0.5 * ((var_a * d_m**2 - 2 * cov * d_m * d_a + var_m * d_a**2) / det + torch.log(det))
    mass_only = 0.5 * (d_m**2 / var_m + torch.log(var_m))
    return torch.where(has_age, joint, mass_only)


@dataclass(frozen=True)
class TransferPrediction:
    """Joint Gaussian over (ln mass, ln age) per star.

    Attributes:
        mean: ``(N, 2)`` ln mass [ln Msun], ln age [ln Gyr].
        std: ``(N, 2)`` total standard deviations (aleatoric and epistemic).
        corr: ``(N,)`` correlation of ln mass and ln age.
        epistemic_std: ``(N, 2)`` the spread of the ensemble means alone.
    """

    mean: np.ndarray
    std: np.ndarray
    corr: np.ndarray
    epistemic_std: np.ndarray

    @property
    def mass(self) -> np.ndarray:
        """``(N,)`` median mass [Msun] (exp of the ln-mass mean)."""
        return np.exp(self.mean[:, 0])

    @property
    def mass_err(self) -> np.ndarray:
        """``(N,)`` 1-sigma mass error [Msun] (first-order: mass x std of ln mass)."""
        return self.mass * self.std[:, 0]

    @property
    def age_gyr(self) -> np.ndarray:
        """``(N,)`` median age [Gyr]."""
        return np.exp(self.mean[:, 1])

    @property
    def age_err(self) -> np.ndarray:
        """``(N,)`` 1-sigma age error [Gyr] (first-order)."""
        return self.age_gyr * self.std[:, 1]


class LabelTransfer:
    """Deep-ensemble label transfer from APOGEE labels to a joint (ln mass, ln age) Gaussian.

    Args:
        config: Hyper-parameters.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = np.c_[rng.normal(4700, 200, 400), rng.normal(2.5, 0.3, 400),
        ...           rng.normal(0, 0.2, 400), rng.normal(0.05, 0.05, 400)]
        >>> y = np.c_[0.2 + 0.3 * (x[:, 1] - 2.5), 1.5 - 0.9 * (x[:, 1] - 2.5)] + rng.normal(0, 0.05, (400, 2))
        >>> model = LabelTransfer(TransferConfig(n_members=2, epochs=20)).fit(x, y, np.full((400, 2), 0.02))
        >>> model.predict(x[:3]).mean.shape
        (3, 2)
    """

    def __init__(self, config: TransferConfig | None = None) -> None:
        self.config = config or TransferConfig()
        self.ensemble: _Ensemble | None = None
        self.feature_mean = np.zeros(len(FEATURES))
        self.feature_std = np.ones(len(FEATURES))
        self.logg_noise = 0.0 if self.config.logg_noise is None else self.config.logg_noise
        self.training_range: np.ndarray | None = None  # (2, 4): 0.5 and 99.5 percentiles of the inputs

    def fit(
        self,
        features: np.ndarray,
        log_truth: np.ndarray,
        log_truth_err: np.ndarray,
        logg_noise: float | None = None,
        logg_is_seismic: np.ndarray | None = None,
    ) -> LabelTransfer:
        """Train the ensemble.

        Args:
            features: ``(N, 4)`` labels in :data:`FEATURES` order (logg seismic or spectroscopic).
            log_truth: ``(N, 2)`` ln mass [ln Msun], ln age [ln Gyr]; age may be NaN.
            log_truth_err: ``(N, 2)`` their 1-sigma errors (fractional errors, i.e. in ln units).
            logg_noise: Overrides ``config.logg_noise`` (e.g. the scatter measured on the data).
            logg_is_seismic: ``(N,)`` bool, rows whose logg is seismic and gets the noise (default all).

        Returns:
            self.
        """
        features = np.asarray(features, dtype=np.float64)
        log_truth = np.asarray(log_truth, dtype=np.float64)
        log_truth_err = np.asarray(log_truth_err, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != len(FEATURES):
            raise ValueError(f"features must be (N, {len(FEATURES)}), got {features.shape}")
        good = np.isfinite(features).all(axis=1) & np.isfinite(log_truth[:, 0]) & np.isfinite(log_truth_err[:, 0])
        if good.sum() < 10:
            raise ValueError(f"only {good.sum()} usable training stars")
        noisy = np.ones(len(features), bool) if logg_is_seismic is None else np.asarray(logg_is_seismic, bool)
        features, log_truth, log_truth_err, noisy = features[good], log_truth[good], log_truth_err[good], noisy[good]
        if logg_noise is not None:
            self.logg_noise = float(logg_noise)
        self.feature_mean = features.mean(axis=0)
        self.feature_std = features.std(axis=0)
        self.training_range = np.percentile(features, [0.5, 99.5], axis=0)
        config = self.config
        x = torch.tensor(features, dtype=torch.float32)
        y = torch.tensor(log_truth, dtype=torch.float32)
        y_err = torch.tensor(np.nan_to_num(log_truth_err, nan=0.0), dtype=torch.float32)
        noise_scale = torch.tensor(np.where(noisy, self.logg_noise, 0.0), dtype=torch.float32)  # (N,)
        shift = torch.tensor(self.feature_mean, dtype=torch.float32)
        scale = torch.tensor(self.feature_std, dtype=torch.float32)
        logg_column = FEATURES.index("logg")
        n, k_members = len(x), config.n_members
        generator = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)
        ensemble = _Ensemble(k_members, config.hidden, config.seed)
        optimiser = torch.optim.AdamW(ensemble.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        steps_per_epoch = -(-n // config.batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=config.learning_rate, total_steps=config.epochs * steps_per_epoch, pct_start=0.1
        )
        for _ in range(config.epochs):
            # each member sees its own random order of the stars
            order = torch.argsort(torch.rand(k_members, n, generator=generator), dim=1)  # (K, N)
            for start in range(0, n, config.batch_size):
                batch = order[:, start : start + config.batch_size]  # (K, B)
                xb = x[batch].clone()  # (K, B, 4)
                xb[..., logg_column] += noise_scale[batch] * torch.randn(batch.shape, generator=generator)
                mean, log_std, corr = ensemble((xb - shift) / scale)
                loss = bivariate_nll(
                    mean.flatten(0, 1), log_std.flatten(0, 1), corr.flatten(), y[batch].flatten(0, 1),
                    y_err[batch].flatten(0, 1),
                ).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
        ensemble.eval()
        self.ensemble = ensemble
        return self

    def predict(self, features: np.ndarray) -> TransferPrediction:
        """Joint Gaussian over (ln mass, ln age) for each star.

        Args:
            features: ``(N, 4)`` labels in :data:`FEATURES` order; rows with NaN give NaN.

        Returns:
            The prediction.
        """
        if self.ensemble is None:
            raise RuntimeError("the label transfer is not fitted")
        features = np.asarray(features, dtype=np.float64)
        x = torch.tensor((features - self.feature_mean) / self.feature_std, dtype=torch.float32)
        with torch.no_grad():
            mean_k, log_std_k, corr_k = self.ensemble(x.expand(self.config.n_members, -1, -1))
        means = mean_k.numpy().astype(np.float64)  # (K, N, 2)
        stds = np.exp(log_std_k.numpy().astype(np.float64))  # (K, N, 2)
        corrs = corr_k.numpy().astype(np.float64)  # (K, N)
        mean = means.mean(axis=0)
        centred = means - mean
        var = (stds**2).mean(axis=0) + (centred**2).mean(axis=0)  # (N, 2)
        cov = (corrs * stds[..., 0] * stds[..., 1]).mean(axis=0) + (centred[..., 0] * centred[..., 1]).mean(axis=0)
        std = np.sqrt(var)
        return TransferPrediction(
            mean=mean,
            std=std,
            corr=np.clip(cov / (std[:, 0] * std[:, 1]), -1.0, 1.0),
            epistemic_std=np.sqrt((centred**2).mean(axis=0)),
        )

    def in_domain(self, features: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: every label inside the padded training range (see ``config.domain_padding``).

        Args:
            features: ``(N, 4)`` labels in :data:`FEATURES` order.

        Returns:
            The mask.
        """
        if self.training_range is None:
            raise RuntimeError("the label transfer is not fitted")
        features = np.asarray(features, dtype=np.float64)
        low, high = self.training_range
        padding = self.config.domain_padding * (high - low)
        return np.all((features >= low - padding) & (features <= high + padding), axis=1)

    def save(self, folder: str | Path) -> None:
        """Write the ensemble as ``transfer.safetensors`` and ``transfer.json`` into ``folder``.

        Args:
            folder: The folder (created if missing).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.ensemble is None:
            raise RuntimeError("the label transfer is not fitted")
        tensors = {name: tensor.detach().contiguous() for name, tensor in self.ensemble.state_dict().items()}
        with atomic_path(folder / "transfer.safetensors") as tmp:
            save_file(tensors, str(tmp))
        state = {
            "config": to_dict(self.config),
            "feature_mean": self.feature_mean.tolist(),
            "feature_std": self.feature_std.tolist(),
            "logg_noise": self.logg_noise,
            "training_range": None if self.training_range is None else self.training_range.tolist(),
            "features": list(FEATURES),
        }
        with atomic_path(folder / "transfer.json") as tmp:
            tmp.write_text(json.dumps(state, indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> LabelTransfer:
        """Read an ensemble written by :meth:`save` (safetensors and JSON only; nothing is unpickled).

        Args:
            folder: The folder :meth:`save` wrote.

        Returns:
            The fitted transfer.
        """
        folder = Path(folder)
        try:
            state = json.loads((folder / "transfer.json").read_text())
            tensors = load_file(str(folder / "transfer.safetensors"))
        except (OSError, ValueError, SafetensorError) as exc:
            raise ModelFileError(f"{folder}: cannot read the label-transfer model ({exc})") from exc
        required = ("config", "feature_mean", "feature_std", "logg_noise", "training_range", "features")
        if not isinstance(state, dict) or any(k not in state for k in required):
            raise ModelFileError(f"{folder}: transfer.json lacks one of {required}")
        if state["features"] != list(FEATURES):
            raise ModelFileError(f"{folder}: label transfer expects features {state['features']}")
        try:
            model = cls(from_dict(TransferConfig, state["config"]))
            model.feature_mean = np.array(state["feature_mean"], dtype=np.float64)
            model.feature_std = np.array(state["feature_std"], dtype=np.float64)
            model.logg_noise = float(state["logg_noise"])
            model.training_range = (None if state["training_range"] is None
                                    else np.array(state["training_range"], dtype=np.float64))
        except (ConfigError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{folder}: transfer.json does not fit this version ({exc})") from exc
        n = len(FEATURES)
        if model.feature_mean.shape != (n,) or model.feature_std.shape != (n,) or (
                model.training_range is not None and model.training_range.shape != (2, n)):
            raise ModelFileError(f"{folder}: normalisation arrays have the wrong shape")
        ensemble = _Ensemble(model.config.n_members, model.config.hidden, model.config.seed)
        try:
            ensemble.load_state_dict(tensors)
        except RuntimeError as exc:
            raise ModelFileError(f"{folder}: label-transfer weights do not fit its config ({exc})") from exc
        ensemble.eval()
        model.ensemble = ensemble
        return model
