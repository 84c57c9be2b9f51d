"""What training holds in memory, by part: weights, trainable parameters, gradients, optimizer state, activations.

On the CPU there is no allocator peak to read, so each part is counted from its tensors:

* ``weights``: every parameter of the model (trainable or not) and its buffers;
* ``trainable``: the parameters that require a gradient;
* ``gradients``: the ``.grad`` tensors after the backward pass;
* ``optimizer``: the optimizer's state tensors (AdamW: two per trained parameter);
* ``activations``: tensors autograd saves for the backward pass during one forward, counted
  through ``torch.autograd.graph.saved_tensors_hooks``, each storage once, parameters and
  buffers excluded. This is where LoRA-FA differs: with A frozen, the input of A need not be
  kept for A's gradient.

``peak`` is ``torch.cuda.max_memory_allocated`` on CUDA; on the CPU the sum of weights,
gradients, optimizer state and activations (an estimate: temporary buffers are not counted).
Measured on the first step only: hooks on every step would slow training.
"""

from __future__ import annotations

import contextlib
from typing import Any


def _nbytes(t: Any) -> int:
    return t.numel() * t.element_size()


def weights(model: Any) -> tuple[int, int]:
    """(bytes of all parameters and buffers, bytes of trainable parameters)."""
    params = list(model.parameters())
    total = sum(_nbytes(p) for p in params) + sum(_nbytes(b) for b in model.buffers())
    return total, sum(_nbytes(p) for p in params if p.requires_grad)


def gradients(model: Any) -> int:
    return sum(_nbytes(p.grad) for p in model.parameters() if p.grad is not None)


def optimizer_state(optimizer: Any) -> int:
    import torch

    total = 0
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                total += _nbytes(value)
    return total


class SavedTensors:
    """Counts the bytes autograd saves for backward inside the block, each storage once, parameters excluded."""

    def __init__(self, model: Any):
        self._exclude = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self._exclude |= {b.untyped_storage().data_ptr() for b in model.buffers()}
        self.storages: dict[int, int] = {}

    def _pack(self, tensor: Any) -> Any:
        try:
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key not in self._exclude and key != 0:
                self.storages[key] = max(self.storages.get(key, 0), storage.nbytes())
        except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. sparse, meta)
            pass
        return tensor

    @contextlib.contextmanager
    def hooks(self):
        import torch

        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
            yield self

    @property
    def bytes(self) -> int:
        return sum(self.storages.values())


def breakdown(model: Any, optimizer: Any, activations: int, device: str) -> dict[str, int]:
    """The memory parts in bytes (see the module's docstring)."""
    total, trainable = weights(model)
    parts = {"weights": total, "trainable": trainable, "gradients": gradients(model),
             "optimizer": optimizer_state(optimizer), "activations": activations}
    parts["peak"] = parts["weights"] + parts["gradients"] + parts["optimizer"] + parts["activations"]
    if device.startswith("cuda"):
        import torch

        parts["peak"] = int(torch.cuda.max_memory_allocated())
    return parts
