"""Local response normalisation (AlexNet Sec. 3.3) with both readings of α made explicit.

The paper prints, for the activity ``a[i]`` of kernel map ``i`` at one position::

    b[i] = a[i] / (k + α · Σ_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} a[j]²) ** β

with k = 2, n = 5, α = 1e-4, β = 0.75. Krizhevsky's own cuda-convnet divides the ``scale``
(α) by the window size before using it (cuda-convnet2 ``layer.py``), and so does PyTorch's
:class:`torch.nn.LocalResponseNorm`: both compute ``k + (α/n) · Σ a²``. The two readings differ
by a factor n = 5 in α (see ../shared/FACTS.md §4.6).

:class:`LocalResponseNorm` takes the paper's constants and a ``convention``:

* ``"pytorch"`` (the default; also cuda-convnet's): denominator ``k + (α/n) Σ a²``. This is what
  the authors' code ran, so it is the faithful choice for reproducing their numbers.
* ``"paper"``: denominator ``k + α Σ a²``, the formula exactly as printed; implemented as
  PyTorch's module with ``alpha = α · n``.

For odd ``n`` the window ``i-n/2 … i+n/2`` (integer division) is the same in both libraries and
in the paper; at the first and last maps the sum runs over the maps that exist (zeros outside).

The forward pass computes the window sums as a 1×1 convolution of ``a²`` with a 0/1 band
matrix, which gives the same numbers as ``torch.nn.functional.local_response_norm`` (to float
rounding) about 2.5× faster on a CPU, forward and backward. It does so in float32 whatever the
input's dtype or autocast (fp16 would overflow in the sum of squares; the output has the input's
dtype). Its backward pass is written out (:class:`_LRNFunction`) so that training keeps only the
input (which the ReLU before it keeps anyway) and the denominator for it, one copy of the
layer's activations instead of the five that autograd's tape of the same arithmetic holds.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CourseValueError

CONVENTIONS = ("pytorch", "paper")


class _LRNFunction(torch.autograd.Function):
    """``y = a · d^(−β)`` with ``a = x`` in ``compute`` dtype and ``d = k + (α/n) · band ⊛ a²``,
    for ``x: (N, C, H, W)``; ``y`` has ``x``'s dtype.

    ``band``: ``(C, C, 1, 1)`` 0/1 window matrix (symmetric); ``scale`` is α/n. The backward pass
    follows from ``∂y_i/∂a_j = δ_ij d_i^(−β) − 2 (α/n) β a_i a_j d_i^(−β−1)`` for j in i's window:
    ``∂L/∂a = g · d^(−β) − 2 (α/n) β · a · band ⊛ (g · a · d^(−β−1))``, using the band's
    symmetry. Kept for it: ``x`` itself (the ReLU before it keeps the same tensor, so this
    costs no memory) and the denominator, one copy of the layer's activations.
    """

    @staticmethod
    def _denominator(a, band, scale, k):
        return F.conv2d(a * a, band).mul_(scale).add_(k)

    @staticmethod
    def forward(ctx, x, band, scale, beta, k, compute):  # noqa: D102 (see the class docstring)
        a = x.to(compute)
        denominator = _LRNFunction._denominator(a, band, scale, k)
        ctx.save_for_backward(x, denominator, band)
        ctx.constants = (scale, beta, compute)
        return (a * denominator.pow(-beta)).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        x, denominator, band = ctx.saved_tensors
        scale, beta, compute = ctx.constants
        a, grad = x.to(compute), grad.to(compute)
        damped = denominator.pow(-beta)
        through_window = F.conv2d(grad * a * damped / denominator, band)
        grad_x = grad * damped - (2 * scale * beta) * a * through_window
        return grad_x.to(x.dtype), None, None, None, None, None


# AlexNet Sec. 3.3 (../shared/FACTS.md §4.1): k = 2, n = 5, alpha = 1e-4, beta = 0.75.
PAPER_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}


class LocalResponseNorm(nn.LocalResponseNorm):
    """Cross-channel LRN over ``x: (N, C, H, W)`` (any float dtype), output of the same shape.

    ``alpha`` is always the paper's α; ``convention`` says how it enters the denominator (see the
    module docstring). ``paper_alpha`` keeps the α you passed; ``alpha`` (inherited) is the value
    PyTorch's kernel uses.
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        convention: str = "pytorch",
    ) -> None:
        if convention not in CONVENTIONS:
            raise CourseValueError(
                f"LRN convention {convention!r} is not one of {CONVENTIONS}: 'pytorch' divides "
                "alpha by the window size (cuda-convnet, torch.nn.LocalResponseNorm), 'paper' uses "
                "the formula as printed in Sec. 3.3"
            )
        if size < 1 or size % 2 == 0:
            raise CourseValueError(f"LRN window size must be a positive odd number, got {size}")
        torch_alpha = alpha * size if convention == "paper" else alpha
        super().__init__(size=size, alpha=torch_alpha, beta=beta, k=k)
        self.paper_alpha = alpha
        self.convention = convention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise CourseValueError(f"LocalResponseNorm expects (N, C, H, W), got shape {tuple(x.shape)}")
        # fp16 holds at most 65504: a sum of n squares overflows there once the window's RMS
        # passes sqrt(65504 / n) (114 for n = 5), making the output 0. So the squares, sums and
        # denominator are computed in float32 (float64 stays float64), with autocast off so that
        # it cannot turn the convolution back into fp16, and the result is cast back.
        compute = torch.promote_types(x.dtype, torch.float32)
        # autocast exists only for real devices: shape-only tensors ("meta", used to count
        # parameters and MACs without memory) have nothing to switch off
        no_autocast = (torch.autocast(x.device.type, enabled=False)
                       if x.device.type in ("cpu", "cuda", "mps", "xpu") else nullcontext())
        with no_autocast:
            channels = torch.arange(x.shape[1], device=x.device)
            band = (channels[:, None] - channels[None, :]).abs() <= self.size // 2
            band = band.to(compute)[:, :, None, None]
            if torch.is_grad_enabled() and x.requires_grad:
                return _LRNFunction.apply(x, band, self.alpha / self.size, self.beta, self.k,
                                          compute)
            # no tape to keep: the plain arithmetic, in place where it can be
            a = x.to(compute)
            denominator = F.conv2d(a * a, band).mul_(self.alpha / self.size).add_(self.k)
            return (a / denominator.pow_(self.beta)).to(x.dtype)

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, alpha={self.paper_alpha}, beta={self.beta}, k={self.k}, "
            f"convention={self.convention!r}"
        )
