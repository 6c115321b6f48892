"""XP spectral maths: the Hermite basis, coefficients -> sampled flux, and the MAP projection back."""
