"""AlexNet as in the 2012 paper, as in torchvision, and scaled down for 28–128 px inputs.

``alexnet(variant, ...)`` builds every network the course trains or inspects. Facts cited as
FACTS § are in ../shared/FACTS.md (the paper: Krizhevsky, Sutskever, Hinton, NIPS 2012).

Variants
--------
``"paper"`` (Sec. 3.5, Fig. 2)
    96-256-384-384-256 kernels, 11/4 first layer, 4096-4096 hidden units. The two GPU "towers"
    are ``groups=2`` convolutions: conv2, conv4 and conv5 see only the kernel maps of their own
    tower (the first half of the channels is tower 1, the second half tower 2), conv3 and the
    fully connected layers see both. ReLU after every layer; LRN (k=2, n=5, α=1e-4, β=0.75,
    see :mod:`.lrn` for α vs α/n) after the ReLU of conv1 and conv2; overlapping max-pooling 3/2
    after conv1, conv2 and conv5; dropout 0.5 on the outputs of fc6 and fc7 (the inputs of fc7
    and fc8). The paper's initialisation: every weight from N(0, 0.01²), biases 1 in conv2, conv4,
    conv5, fc6, fc7 and 0 elsewhere (Sec. 5). 60,965,224 parameters (FACTS §4.5).

    **224 or 227?** The paper says 224×224 inputs, but (224 − 11)/4 + 1 = 54.25 (FACTS §4.2).
    Krizhevsky's cuda-convnet sizes a convolution's output as ``1 + ceil((in + 2·pad − k)/s)``,
    so 224 with no padding gives 55, the last window hanging 3 pixels over the right and bottom
    edges, where it reads zeros. conv1 here (:class:`CeilModeConv2d`) does exactly that: it pads
    the right and bottom edges with just enough zeros (3 for 224, 0 for 227) and then convolves.
    Both 224 and 227 inputs give the chain 55 → pool 27 → 27 → pool 13 → 13 → 13 → pool 6;
    a 227 input is the CS231n / Caffe reading, the same layer without the overhang.

``"torchvision"`` (FACTS §4.6, §5)
    The one-tower 64-192-384-256-256 network of "One weird trick" as torchvision builds it: conv1
    padded by 2 (224 → 55), no LRN, no grouping, dropout *before* fc6 and fc7, an adaptive
    average pool to 6×6, PyTorch's default initialisation. Its ``state_dict`` keys and shapes are
    those of ``torchvision.models.alexnet``, so the ImageNet weights load with ``strict=True``
    (:func:`course_lib.models.pretrained.load_pretrained`). 61,100,840 parameters.

``"scaled"``
    The paper's layer sequence (5 conv with LRN after conv1/conv2, 3 overlapping pools, 3 FC with
    dropout as in the paper) for small images, one tower by default. Every width, the hidden FC
    width included, is multiplied by ``width``. ``input_size`` (the crop side, required) picks
    the first layer so the spatial chain stays AlexNet-like:

    ========  ===================  ==========================================
    input     conv1                chain (conv1 → pool1 → pool2 → pool3)
    ========  ===================  ==========================================
    < 48 px   3×3, stride 1, pad 1  28 → 28, 13, 6, 2;  32 → 32, 15, 7, 3
    < 96 px   5×5, stride 2, pad 2  56 → 28, 13, 6, 2;  64 → 32, 15, 7, 3
    ≥ 96 px   11×11, stride 4, pad 2  128 → 31, 15, 7, 3 (torchvision's conv1)
    ========  ===================  ==========================================

    The adaptive average pool before fc6 keeps the last map's size under 3/2 pooling, so
    switching pooling never changes a parameter's shape. The laptop profile's network
    (56 px, width 0.5, 20 classes) has 48-128-192-192-128 kernels and 2048-2048 hidden units.

Ablation switches (each changes what it says and nothing else; the tests check it)
    ``activation="tanh"`` (Sec. 3.1, Fig. 1) swaps every ReLU for tanh; ``lrn=False`` replaces
    the two LRN layers by ``nn.Identity`` (Sec. 3.3; the placeholders keep the state_dict keys;
    ``lrn=True`` on the "torchvision" variant inserts LRN and so shifts its keys);
    ``pool="non-overlapping"`` makes the three pools 2/2 instead of 3/2 (Sec. 3.4); ``dropout=0``
    keeps the Dropout modules with p = 0, so the state_dict keys do not move (Sec. 4.2);
    ``towers=1`` / ``towers=2`` drops or adds the two-GPU grouping (Sec. 3.2); ``init=`` picks an
    initialisation ("paper", "torchvision" = PyTorch's defaults, "kaiming"); ``conv1_std=0.01``
    draws conv1 alone at the paper's scale, N(0, 0.01²), whatever ``init`` is (the profiles' choice
    for the scaled network: see :mod:`course_lib.profiles`). The LRN layers use the
    ``"pytorch"`` reading of α (:mod:`.lrn`), what the authors' code ran.

Initialisation draws from torch's global generator: call ``course_lib.device.seed_everything``
first for a reproducible network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CourseValueError
from .lrn import PAPER_LRN, LocalResponseNorm

VARIANTS = ("paper", "torchvision", "scaled")
ACTIVATIONS = ("relu", "tanh")
POOLS = {"overlapping": (3, 2), "non-overlapping": (2, 2)}
INITS = ("paper", "torchvision", "kaiming")
LAYER_NAMES = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")

# FACTS §4.1 (paper) and §4.6 (torchvision / cuda-convnet2 one-GPU config).
_PAPER_WIDTHS = (96, 256, 384, 384, 256)
_TORCHVISION_WIDTHS = (64, 192, 384, 256, 256)
_FC_WIDTH = 4096
_GROUPED = (False, True, False, True, True)  # conv2, conv4, conv5 stay within a tower
_PAPER_BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")  # Sec. 5


@dataclass(frozen=True)
class AlexNetConfig:
    """Everything that decides an AlexNet's structure; ``alexnet()`` fills it in."""

    variant: str
    num_classes: int
    width: float
    input_size: int  # the side the network was designed for (other sizes still run)
    widths: tuple[int, int, int, int, int]  # kernels of conv1..conv5
    fc_width: int  # units in fc6 and fc7
    towers: int  # 1, or 2 for the paper's two-GPU grouping of conv2/4/5
    conv1: tuple[int, int, int]  # kernel, stride, padding
    conv1_ceil: bool  # cuda-convnet's output size (pad right/bottom to cover the input)
    activation: str
    lrn: bool
    pool: str
    dropout: float
    dropout_before_fc6: bool  # torchvision: Dropout before fc6 and fc7; paper: after fc6 and fc7
    init: str
    final_size: int  # side of the adaptive average pool's output
    conv1_std: float | None = None  # conv1's weights from N(0, conv1_std²) whatever ``init`` is


class CeilModeConv2d(nn.Conv2d):
    """A ``Conv2d`` whose output size follows cuda-convnet: ``1 + ceil((in + 2·pad − k) / s)``.

    ``x: (N, C, H, W)``; the right and bottom edges get just enough zeros for the last window to
    fit (AlexNet conv1: 3 for a 224 input, 0 for 227), then an ordinary convolution runs. Its
    parameters and state_dict are those of ``nn.Conv2d``.
    """

    def _cover(self, size: int, dim: int) -> int:
        k, s, p = self.kernel_size[dim], self.stride[dim], self.padding[dim]
        span = size + 2 * p - k
        if span < 0:
            raise CourseValueError(f"input side {size} is smaller than the {k}×{k} kernel of {self}")
        out = 1 + math.ceil(span / s)
        return (out - 1) * s + k - (size + 2 * p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra_h, extra_w = self._cover(x.shape[-2], 0), self._cover(x.shape[-1], 1)
        if extra_h or extra_w:
            x = F.pad(x, (0, extra_w, 0, extra_h))
        return super().forward(x)


class AlexNet(nn.Module):
    """``x: (N, 3, H, W) float`` → ``logits: (N, num_classes)``.

    ``features`` (convolutions), ``avgpool`` and ``classifier`` (fully connected) as in
    torchvision; ``config`` records how it was built; :meth:`learned_layers` names the eight
    learned layers conv1 … fc8.
    """

    def __init__(self, config: AlexNetConfig) -> None:
        super().__init__()
        self.config = config
        self.features = nn.Sequential(*_feature_layers(config))
        self.avgpool = nn.AdaptiveAvgPool2d((config.final_size, config.final_size))
        self.classifier = nn.Sequential(*_classifier_layers(config))
        initialize(self, config.init, conv1_std=config.conv1_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)

    def learned_layers(self) -> dict[str, nn.Module]:
        """``{"conv1": Conv2d, …, "fc8": Linear}`` in order."""
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        fcs = [m for m in self.classifier if isinstance(m, nn.Linear)]
        return dict(zip(LAYER_NAMES, convs + fcs, strict=True))


def _activation(config: AlexNetConfig) -> nn.Module:
    return nn.ReLU(inplace=True) if config.activation == "relu" else nn.Tanh()


def _pool(config: AlexNetConfig) -> nn.Module:
    kernel, stride = POOLS[config.pool]
    return nn.MaxPool2d(kernel_size=kernel, stride=stride)


def _lrn(config: AlexNetConfig) -> list[nn.Module]:
    if config.lrn:
        return [LocalResponseNorm(**PAPER_LRN)]
    # Switched off in a variant that has LRN: an Identity keeps every later state_dict key.
    return [] if config.variant == "torchvision" else [nn.Identity()]


def _feature_layers(config: AlexNetConfig) -> list[nn.Module]:
    c1, c2, c3, c4, c5 = config.widths
    g = [config.towers if grouped else 1 for grouped in _GROUPED]
    kernel, stride, padding = config.conv1
    conv1_type = CeilModeConv2d if config.conv1_ceil else nn.Conv2d
    return [
        conv1_type(3, c1, kernel_size=kernel, stride=stride, padding=padding),
        _activation(config),
        *_lrn(config),
        _pool(config),
        nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=g[1]),
        _activation(config),
        *_lrn(config),
        _pool(config),
        nn.Conv2d(c2, c3, kernel_size=3, padding=1, groups=g[2]),
        _activation(config),
        nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=g[3]),
        _activation(config),
        nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=g[4]),
        _activation(config),
        _pool(config),
    ]


def _classifier_layers(config: AlexNetConfig) -> list[nn.Module]:
    flat = config.widths[4] * config.final_size**2
    fc, p = config.fc_width, config.dropout
    if config.dropout_before_fc6:  # torchvision
        return [
            nn.Dropout(p),
            nn.Linear(flat, fc),
            _activation(config),
            nn.Dropout(p),
            nn.Linear(fc, fc),
            _activation(config),
            nn.Linear(fc, config.num_classes),
        ]
    return [  # the paper: dropout on the outputs of fc6 and fc7
        nn.Linear(flat, fc),
        _activation(config),
        nn.Dropout(p),
        nn.Linear(fc, fc),
        _activation(config),
        nn.Dropout(p),
        nn.Linear(fc, config.num_classes),
    ]


def initialize(model: AlexNet, scheme: str, conv1_std: float | None = None) -> None:
    """Re-initialise ``model``'s eight learned layers in place.

    * ``"paper"`` (Sec. 5, FACTS §4.3): weights ~ N(0, 0.01²); biases 1 in conv2, conv4, conv5,
      fc6 and fc7, 0 in conv1, conv3 and fc8.
    * ``"torchvision"``: PyTorch's default (Kaiming-uniform with a = √5, as torchvision's AlexNet
      is built), freshly drawn.
    * ``"kaiming"``: He-normal weights (std = gain / √fan_in with the activation's gain) in
      conv1 … fc7, N(0, 0.01²) in fc8 so the first logits are near zero and the first loss near
      ln C; zero biases. The modern choice, which trains the small networks reliably.

    ``conv1_std``: conv1's weights from N(0, conv1_std²) and zero biases instead, the other
    layers as ``scheme`` says (under "kaiming" and "paper", which also draw conv1 from a normal
    and zero or constant biases, the later layers' weights are the same as without it).
    """
    if scheme not in INITS:
        raise CourseValueError(f"unknown init {scheme!r}: use one of {INITS}")
    hidden_gain = nn.init.calculate_gain(model.config.activation)
    for name, layer in model.learned_layers().items():
        if name == "conv1" and conv1_std is not None:
            nn.init.normal_(layer.weight, mean=0.0, std=conv1_std)
            nn.init.zeros_(layer.bias)
        elif scheme == "torchvision":
            layer.reset_parameters()
        elif scheme == "paper":
            nn.init.normal_(layer.weight, mean=0.0, std=0.01)
            nn.init.constant_(layer.bias, 1.0 if name in _PAPER_BIAS_ONE else 0.0)
        else:
            fan_in = layer.weight[0].numel()
            std = 0.01 if name == "fc8" else hidden_gain / math.sqrt(fan_in)
            nn.init.normal_(layer.weight, mean=0.0, std=std)
            nn.init.zeros_(layer.bias)


def spatial_chain(
    input_size: int, conv1: Sequence[int], pool: str = "overlapping", conv1_ceil: bool = False
) -> dict[str, int]:
    """Side of each feature map for a square input: ``{"input", "conv1", "pool1", "pool2", "pool3"}``.

    conv2 … conv5 keep their input's size (padding 2, 1, 1, 1), so these five numbers are the
    whole chain. ``conv1 = (kernel, stride, padding)``.
    """
    kernel, stride, padding = conv1
    span = input_size + 2 * padding - kernel
    steps = math.ceil(span / stride) if conv1_ceil else span // stride
    chain = {"input": input_size, "conv1": 1 + steps}
    pk, ps = POOLS[pool]
    for name in ("pool1", "pool2", "pool3"):
        previous = list(chain.values())[-1]
        chain[name] = (previous - pk) // ps + 1
    return chain


def scaled_conv1(input_size: int) -> tuple[int, int, int]:
    """conv1's ``(kernel, stride, padding)`` for the scaled variant (table in the module doc)."""
    if input_size < 48:
        return (3, 1, 1)
    if input_size < 96:
        return (5, 2, 2)
    return (11, 4, 2)


def _scale(channels: int, width: float, multiple: int) -> int:
    return max(multiple, int(round(channels * width / multiple)) * multiple)


def _check_options(variant, num_classes, width, dropout, activation, pool, towers, init=None,
                   conv1_std=None) -> None:
    """:func:`alexnet`'s switches, each refused with the values it takes."""
    if variant not in VARIANTS:
        raise CourseValueError(f"unknown AlexNet variant {variant!r}: use one of {VARIANTS}")
    if not (isinstance(num_classes, int) and num_classes >= 1):
        raise CourseValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if not width > 0:
        raise CourseValueError(f"width must be positive, got {width!r}")
    if not 0.0 <= dropout < 1.0:
        raise CourseValueError(f"dropout must be in [0, 1), got {dropout!r}")
    if activation not in ACTIVATIONS:
        raise CourseValueError(f"unknown activation {activation!r}: use one of {ACTIVATIONS}")
    if pool not in POOLS:
        raise CourseValueError(f"unknown pool {pool!r}: use one of {tuple(POOLS)}")
    if towers is not None and towers not in (1, 2):
        raise CourseValueError(f"towers must be 1 or 2, got {towers!r}")
    if init is not None and init not in INITS:
        raise CourseValueError(f"unknown init {init!r}: use one of {INITS}")
    if conv1_std is not None and (isinstance(conv1_std, bool) or
                                  not isinstance(conv1_std, (int, float)) or not 0 < conv1_std < 1):
        raise CourseValueError(f"conv1_std must be a number in (0, 1), got {conv1_std!r}")


def alexnet(
    variant: str,
    num_classes: int = 1000,
    width: float = 1.0,
    dropout: float = 0.5,
    *,
    input_size: int | None = None,
    activation: str = "relu",
    lrn: bool | None = None,
    pool: str = "overlapping",
    towers: int | None = None,
    init: str | None = None,
    conv1_std: float | None = None,
) -> AlexNet:
    """Build an AlexNet (see the module docstring for what each variant and switch means).

    ``variant``: "paper", "torchvision" or "scaled". ``width`` multiplies every layer's width
    (kernels and hidden units; rounded to a multiple of ``towers``). ``dropout``: the drop
    probability in the FC layers (0 turns dropout off). ``input_size``: the crop side the
    network is built for; 224 by default for "paper" and "torchvision", required for "scaled".
    ``lrn`` (default: on for "paper"/"scaled", off for "torchvision"), ``towers`` (default 2 for
    "paper", 1 otherwise) and ``init`` (default "paper" for "paper", "torchvision" for
    "torchvision", "kaiming" for "scaled") override the variant's choice. ``conv1_std``: conv1's
    weights from N(0, conv1_std²) with zero biases, whatever ``init`` does to the other layers.

    Returns an :class:`AlexNet` taking ``(N, 3, input_size, input_size)`` float images (other
    sizes run too, through the adaptive pool) and giving ``(N, num_classes)`` logits.
    """
    _check_options(variant, num_classes, width, dropout, activation, pool, towers, init, conv1_std)
    paper, tv = variant == "paper", variant == "torchvision"
    if variant == "scaled" and input_size is None:
        raise CourseValueError(
            "variant 'scaled' needs input_size, the crop side it is built for (about 28–128 px),"
            " e.g. alexnet('scaled', input_size=profile.crop_size)"
        )
    size = 224 if input_size is None else int(input_size)
    towers = (2 if paper else 1) if towers is None else towers
    base = _TORCHVISION_WIDTHS if tv else _PAPER_WIDTHS
    widths = tuple(_scale(c, width, towers) for c in base)
    if variant == "scaled":
        conv1, ceil = scaled_conv1(size), False
    else:
        conv1, ceil = ((11, 4, 0), True) if paper else ((11, 4, 2), False)
    # Sized under 3/2 pooling whatever `pool` is, so the pooling switch leaves fc6's shape alone.
    chain = spatial_chain(size, conv1, "overlapping", conv1_ceil=ceil)
    switched_chain = spatial_chain(size, conv1, pool, conv1_ceil=ceil)
    if min(chain.values()) < 1 or min(switched_chain.values()) < 1:
        raise CourseValueError(
            f"input_size {size} is too small for variant {variant!r} with {pool} pooling: "
            f"feature map sides {switched_chain}"
        )
    config = AlexNetConfig(
        variant=variant,
        num_classes=num_classes,
        width=float(width),
        input_size=size,
        widths=widths,
        fc_width=_scale(_FC_WIDTH, width, 1),
        towers=towers,
        conv1=conv1,
        conv1_ceil=ceil,
        activation=activation,
        lrn=(not tv) if lrn is None else bool(lrn),
        pool=pool,
        dropout=float(dropout),
        dropout_before_fc6=tv,
        init=init or {"paper": "paper", "torchvision": "torchvision"}.get(variant, "kaiming"),
        final_size=6 if variant != "scaled" else chain["pool3"],
        conv1_std=None if conv1_std is None else float(conv1_std),
    )
    return AlexNet(config)
