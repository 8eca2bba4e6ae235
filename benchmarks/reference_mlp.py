"""The MLP training step written by hand in numpy: the baseline every framework figure is divided by.

The model is ``tinygrad_bn.models.mlp`` with its defaults: for each hidden width, Linear (with bias),
BatchNorm1d (training mode, batch statistics, running statistics updated), ReLU, Dropout(p); then a
final Linear to the class logits; softmax cross-entropy (mean over the batch); SGD with momentum, in
PyTorch's form (``buf = momentum * buf + grad``, the first step ``buf = grad``; ``param -= lr * buf``).
Everything is float32. Weights are PyTorch-shaped: W (out, in), so a layer computes ``h @ W.T + b``.

What makes it a fair baseline (what a careful numpy programmer would write, not a strawman):

- BatchNorm forward in place on the layer output, its backward in the compact form
  ``dz = (gamma r / m) (m da - sum(da) - x_hat sum(da x_hat))`` (two reductions, no staged chain rule);
- ReLU and dropout share one float mask ``d h / d a = keep / (1 - p) * [a > 0]``, used forward and backward;
- softmax and cross-entropy fused: ``d loss / d logits = (softmax - onehot) / N``;
- the optimizer updates parameters and momentum buffers in place, with no temporary arrays.

Dropout masks are drawn exactly as ``tinygrad_bn.ops.dropout.bernoulli_mask`` draws them (one float32
uniform per element from the given generator, ``u >= p`` keeps, in the order of the layers), so with
the framework's default generator seeded the same way both see the same masks: see
tests/test_reference_equivalence.py, which checks losses and parameters agree over several steps.
"""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy of ``logits`` (N, C) and its gradient (softmax - one-hot) / N, computed in
    place in ``logits`` (which is overwritten): the fused loss of both hand-written references."""
    n = logits.shape[0]
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    total = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.log(total[:, 0]).sum() - logits[rows, targets].sum()) / n
    e /= total
    e[rows, targets] -= 1
    e /= n
    return loss, e


class ReferenceMLP:
    """Parameters, running statistics, momentum buffers and ``step``; arrays are copied in as float32.

    ``linears``: [(W (out, in), b (out,)), ...], one per Linear, the last one giving the logits.
    ``norms``: [(gamma (C,), beta (C,)), ...], one per hidden layer (one fewer than ``linears``).
    """

    def __init__(self, linears: list[tuple[np.ndarray, np.ndarray]], norms: list[tuple[np.ndarray, np.ndarray]],
                 *, p: float = 0.2, eps: float = 1e-5, bn_momentum: float = 0.1, lr: float = 0.01,
                 momentum: float = 0.9):
        if len(norms) != len(linears) - 1:
            raise ValueError(f"ReferenceMLP: expected {len(linears) - 1} norms for {len(linears)} linears, "
                             f"got {len(norms)}")
        f32 = np.float32
        self.linears = [(np.array(w, f32), np.array(b, f32)) for w, b in linears]
        self.norms = [(np.array(g, f32), np.array(b, f32)) for g, b in norms]
        self.running = [(np.zeros(g.shape, f32), np.ones(g.shape, f32)) for g, _ in norms]
        self.p, self.eps, self.bn_momentum, self.lr, self.momentum = p, eps, bn_momentum, lr, momentum
        self.scale = f32(1.0 / (1.0 - p))
        self.buffers: list[np.ndarray | None] = [None] * len(self.parameters())

    def parameters(self) -> list[np.ndarray]:
        """W, b (and gamma, beta) of each layer in order: the order the momentum buffers follow."""
        out: list[np.ndarray] = []
        for i, (w, b) in enumerate(self.linears):
            out += [w, b]
            if i < len(self.norms):
                out += list(self.norms[i])
        return out

    def step(self, x: np.ndarray, targets: np.ndarray, generator: np.random.Generator) -> float:
        """One training step on a batch x (N, in) float32, targets (N,) int; returns the loss (before the update)."""
        n = x.shape[0]
        inputs, saved = [], []
        h = x
        for (w, b), (gamma, beta), (rm, rv) in zip(self.linears, self.norms, self.running):
            inputs.append(h)
            z = h @ w.T
            z += b
            mean = z.mean(axis=0)
            z -= mean                                          # z is now x - mean
            var = np.einsum("ij,ij->j", z, z) / n              # biased variance
            rm *= 1 - self.bn_momentum
            rm += self.bn_momentum * mean
            rv *= 1 - self.bn_momentum
            rv += (self.bn_momentum * n / (n - 1)) * var       # running variance is unbiased
            rstd = 1 / np.sqrt(var + self.eps)
            z *= rstd                                          # z is now x_hat
            a = z * gamma
            a += beta
            d = (generator.random(a.shape, dtype=np.float32) >= self.p) * self.scale
            d *= a > 0                                         # d h / d a: dropout mask times ReLU mask
            a *= d                                             # h = relu(a) * keep / (1 - p)
            saved.append((z, rstd, d))
            h = a
        w, b = self.linears[-1]
        inputs.append(h)
        logits = h @ w.T
        logits += b

        loss, e = softmax_cross_entropy(logits, targets)       # e = d loss / d logits
        grads = self._backward(e, inputs, saved)
        self._sgd(grads)
        return loss

    def _backward(self, g: np.ndarray, inputs: list[np.ndarray], saved: list[tuple]) -> list[np.ndarray]:
        """Gradients in ``parameters()`` order, from g = d loss / d logits."""
        n = g.shape[0]
        grads: list[np.ndarray] = []
        for i in range(len(self.linears) - 1, -1, -1):
            w, _ = self.linears[i]
            layer = [g.T @ inputs[i], g.sum(axis=0)]           # dW, db
            if i > 0:
                xhat, rstd, d = saved[i - 1]
                gamma = self.norms[i - 1][0]
                da = g @ w                                     # d loss / d h
                da *= d                                        # through dropout and ReLU
                dbeta = da.sum(axis=0)
                dgamma = np.einsum("ij,ij->j", da, xhat)
                da *= n                                        # compact BN backward, in place on da
                da -= dbeta
                da -= xhat * dgamma
                da *= gamma * (rstd / n)
                layer[:0] = [dgamma, dbeta]                    # gamma, beta come before this W, b
                g = da
            grads[:0] = layer
        return grads

    def _sgd(self, grads: list[np.ndarray]) -> None:
        """buf = momentum * buf + grad (buf = grad at first); param -= lr * buf; all in place."""
        for k, (param, grad) in enumerate(zip(self.parameters(), grads)):
            buf = self.buffers[k]
            if buf is None:
                self.buffers[k] = buf = grad.copy()
            else:
                buf *= self.momentum
                buf += grad
            np.multiply(buf, self.lr, out=grad)                # grad is ours and no longer needed: scratch
            param -= grad
