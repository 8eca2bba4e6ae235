"""Standard error of a measured variance shift (shared by test_diagnostics and test_experiments)."""

import math


def noise_moments(kind, rate):
    """E[m^2], E[m^3], E[m^4] of the multiplicative noise (E[m] = 1 for all three)."""
    if kind == "dropout":  # m = B / q, B ~ Bernoulli(q): E[m^k] = q / q^k
        q = 1 - rate
        return q ** -1, q ** -2, q ** -3
    if kind == "gaussian":  # m ~ N(1, s2)
        s2 = rate / (1 - rate)
        return 1 + s2, 1 + 3 * s2, 1 + 6 * s2 + 3 * s2 * s2
    b2 = rate * rate  # m = 1 + r, r ~ U(-b, b): E[r^2] = b^2/3, E[r^4] = b^4/5, odd moments 0
    return 1 + b2 / 3, 1 + b2, 1 + 2 * b2 + b2 * b2 / 5


def delta_standard_error(kind, rate, c, v, n, batch, channels):
    """Standard error of the measured Delta (mean over channels of T_j / R_j).

    T_j: unbiased variance of n Gaussian samples, Var(T)/v^2 = 2/(n-1).
    R_j: running_var, the mean over n/batch batches of the unbiased batch variance of Y = X m; for one
    batch of size b, Var(s^2) = (mu4 - sigma^4 (b-3)/(b-1)) / b, so averaging n/b batches gives
    Var(R) = (mu4 - sigma^4 (b-3)/(b-1)) / n, with mu4 the central 4th moment of Y. T and R use
    independent samples, so by the delta method Var(T/R)/Delta^2 = Var(T)/v^2 + Var(R)/sigma^4, and the
    channels are independent copies: divide the variance by the channel count.
    """
    m2, m3, m4 = noise_moments(kind, rate)
    ex2, ex3, ex4 = c * c + v, c ** 3 + 3 * c * v, c ** 4 + 6 * c * c * v + 3 * v * v
    ey2, ey3, ey4 = ex2 * m2, ex3 * m3, ex4 * m4  # X and m independent
    sigma2 = ey2 - c * c
    mu4 = ey4 - 4 * c * ey3 + 6 * c * c * ey2 - 3 * c ** 4
    rel_var = 2 / (n - 1) + (mu4 / sigma2 ** 2 - (batch - 3) / (batch - 1)) / n
    delta = v / sigma2
    return delta * math.sqrt(rel_var / channels)
