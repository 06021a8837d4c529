"""Per-layer accounting of a network: output shapes, parameters, multiply-accumulates, activations.

``summarize(model, input_size)`` runs one forward pass on zeros with forward hooks on every leaf
module and returns a pandas DataFrame with one row per call of a leaf module, in execution order.

Counting rules (the conventions behind the paper-side figures in ../shared/FACTS.md §4.5):

* ``params``: the parameters the module owns (``recurse=False``), counted at its first call only,
  so the column sums to ``sum(p.numel() for p in model.parameters())`` for any network whose
  parameters all sit in leaf modules that run (AlexNet's do). ``attrs["unvisited_params"]``
  counts what no row holds (parameters of modules that never ran or of non-leaf modules).
* ``macs``: multiply-accumulates of the weights for one input image: a convolution (not a
  transposed one, which counts zero here) does
  ``(C_in / groups) · k_h · k_w`` per output element, a linear layer ``in_features`` per output
  element. Bias additions, activations, pooling and LRN count zero. This is the count torchvision
  reports as "GFLOPS" (0.714 for AlexNet at 224 px, FACTS §5).
* ``activations``: elements of the layer's output for one image (what the paper calls neurons
  for the conv and FC layers: 659,272 for the paper's network, FACTS §4.5).
* ``param_share`` and ``mac_share``: fractions of the model's totals (0–1).
* ``layer``: the paper's name of a learned layer ("conv1" … "fc8") when the model has a
  ``learned_layers()`` method (course_lib's AlexNet does), else "".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from ..errors import CourseValueError

COLUMNS = (
    "name",
    "layer",
    "type",
    "output_shape",
    "params",
    "macs",
    "activations",
    "param_share",
    "mac_share",
)


def layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    """Weight multiply-accumulates of ``module`` for one sample, given its batched ``output``."""
    per_sample = output[0].numel() if output.dim() > 0 else 0
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return per_sample * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return per_sample * module.in_features
    return 0


def _input_shape(input_size: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(input_size, int):
        return (1, 3, input_size, input_size)
    shape = tuple(int(s) for s in input_size)
    if len(shape) == 2:
        return (1, 3, *shape)
    if len(shape) == 3:
        return (1, *shape)
    if len(shape) == 4:
        return shape
    raise CourseValueError(
        f"input_size must be a side (224), (H, W), (C, H, W) or (N, C, H, W); got {input_size!r}"
    )


def summarize(model: nn.Module, input_size: int | Sequence[int]) -> pd.DataFrame:
    """One row per leaf-module call of ``model`` on a zero input of ``input_size``.

    ``input_size``: a side ``S`` (input ``(1, 3, S, S)``), ``(H, W)``, ``(C, H, W)`` or a full
    ``(N, C, H, W)``. The pass runs in eval mode without gradients on the model's device and
    dtype; the model's training flag is restored afterwards.

    Returns a DataFrame with columns name, layer, type, output_shape (tuple, without the batch
    dimension), params, macs, activations (per image), param_share, mac_share. ``df.attrs``
    holds ``input_shape``, ``total_params`` (= ``sum(p.numel())`` over the model),
    ``trainable_params``, ``total_macs``, ``total_activations`` and ``unvisited_params``.
    """
    shape = _input_shape(input_size)
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32

    names = {id(m): name for name, m in model.named_modules()}
    learned = getattr(model, "learned_layers", None)
    paper_names = {id(m): name for name, m in learned().items()} if callable(learned) else {}
    rows: list[dict] = []
    counted: set[int] = set()

    def hook(module: nn.Module, _inputs, output) -> None:
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"summarize handles modules returning one tensor; {names[id(module)]} "
                f"({type(module).__name__}) returned {type(output).__name__}"
            )
        params = 0
        if id(module) not in counted:
            counted.add(id(module))
            params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(
            {
                "name": names[id(module)],
                "layer": paper_names.get(id(module), ""),
                "type": type(module).__name__,
                "output_shape": tuple(output.shape[1:]),
                "params": params,
                "macs": layer_macs(module, output),
                "activations": output[0].numel(),
            }
        )

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(shape, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    df = pd.DataFrame(rows, columns=COLUMNS[:7])
    total_params = sum(p.numel() for p in model.parameters())
    total_macs = int(df["macs"].sum())
    df["param_share"] = df["params"] / total_params if total_params else 0.0
    df["mac_share"] = df["macs"] / total_macs if total_macs else 0.0
    df.attrs.update(
        input_shape=shape,
        total_params=total_params,
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        total_macs=total_macs,
        total_activations=int(df["activations"].sum()),
        unvisited_params=total_params - int(df["params"].sum()),
    )
    return df
