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
from safetensors.torch import load_file, save_file
from torch import nn

from bayesxp.config import from_dict, to_dict
from bayesxp.errors import ModelFileError
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
        seed: Seed of the first member (member k uses seed + k).
    """

    hidden: int = 64
    n_members: int = 5
    epochs: int = 300
    batch_size: int = 1024
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    logg_noise: float | None = None
    seed: int = 0


class _Member(nn.Module):
    """One ensemble member: standardised labels (B, 4) -> (mean (B, 2), log std (B, 2), corr (B,))."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(len(FEATURES), hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 5)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.net(x)  # (B, 5)
        log_std = out[:, 2:4].clamp(*_LOG_STD_RANGE)
        return out[:, :2], log_std, _MAX_CORRELATION * torch.tanh(out[:, 4])


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
        self.members: list[_Member] = []
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
        cfg = self.config
        x = torch.tensor(features, dtype=torch.float32)
        y = torch.tensor(log_truth, dtype=torch.float32)
        y_err = torch.tensor(np.nan_to_num(log_truth_err, nan=0.0), dtype=torch.float32)
        noise_scale = torch.tensor(np.where(noisy, self.logg_noise, 0.0), dtype=torch.float32)  # (N,)
        shift = torch.tensor(self.feature_mean, dtype=torch.float32)
        scale = torch.tensor(self.feature_std, dtype=torch.float32)
        logg_column = FEATURES.index("logg")
        self.members = []
        for k in range(cfg.n_members):
            generator = torch.Generator().manual_seed(cfg.seed + k)
            torch.manual_seed(cfg.seed + k)
            member = _Member(cfg.hidden)
            optimiser = torch.optim.AdamW(member.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
            steps_per_epoch = -(-len(x) // cfg.batch_size)
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                optimiser, max_lr=cfg.learning_rate, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.1
            )
            for _ in range(cfg.epochs):
                order = torch.randperm(len(x), generator=generator)
                for start in range(0, len(x), cfg.batch_size):
                    batch = order[start : start + cfg.batch_size]
                    xb = x[batch].clone()  # (B, 4)
                    xb[:, logg_column] += noise_scale[batch] * torch.randn(len(batch), generator=generator)
                    mean, log_std, corr = member((xb - shift) / scale)
                    loss = bivariate_nll(mean, log_std, corr, y[batch], y_err[batch]).mean()
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    schedule.step()
            member.eval()
            self.members.append(member)
        return self

    def predict(self, features: np.ndarray) -> TransferPrediction:
        """Joint Gaussian over (ln mass, ln age) for each star.

        Args:
            features: ``(N, 4)`` labels in :data:`FEATURES` order; rows with NaN give NaN.

        Returns:
            The prediction.
        """
        if not self.members:
            raise RuntimeError("the label transfer is not fitted")
        features = np.asarray(features, dtype=np.float64)
        x = torch.tensor((features - self.feature_mean) / self.feature_std, dtype=torch.float32)
        with torch.no_grad():
            outputs = [member(x) for member in self.members]
        means = np.stack([o[0].numpy() for o in outputs]).astype(np.float64)  # (K, N, 2)
        stds = np.exp(np.stack([o[1].numpy() for o in outputs]).astype(np.float64))  # (K, N, 2)
        corrs = np.stack([o[2].numpy() for o in outputs]).astype(np.float64)  # (K, N)
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
        """``(N,)`` bool: every label inside the 0.5-99.5 percentile range of the training labels."""
        if self.training_range is None:
            raise RuntimeError("the label transfer is not fitted")
        features = np.asarray(features, dtype=np.float64)
        lo, hi = self.training_range
        return np.all((features >= lo) & (features <= hi), axis=1)

    def save(self, folder: str | Path) -> None:
        """Write the ensemble as ``transfer.safetensors`` and ``transfer.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {f"member{k}.{name}": p.detach().contiguous() for k, m in enumerate(self.members)
                   for name, p in m.state_dict().items()}
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
        """Read an ensemble written by :meth:`save` (safetensors and JSON only; nothing is unpickled)."""
        folder = Path(folder)
        try:
            state = json.loads((folder / "transfer.json").read_text())
            tensors = load_file(str(folder / "transfer.safetensors"))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{folder}: cannot read the label-transfer model ({exc})") from exc
        if state.get("features") != list(FEATURES):
            raise ModelFileError(f"{folder}: label transfer expects features {state.get('features')}")
        model = cls(from_dict(TransferConfig, state["config"]))
        model.feature_mean = np.array(state["feature_mean"])
        model.feature_std = np.array(state["feature_std"])
        model.logg_noise = state["logg_noise"]
        model.training_range = None if state["training_range"] is None else np.array(state["training_range"])
        for k in range(model.config.n_members):
            member = _Member(model.config.hidden)
            member.load_state_dict({n.split(".", 1)[1]: t for n, t in tensors.items() if n.startswith(f"member{k}.")})
            member.eval()
            model.members.append(member)
        return model
