"""MoE routing: which experts a mixture-of-experts model chooses for each token, and how evenly.

``routing(text)`` runs the model once. The router logits come from ``output_router_logits=True``
where the model takes it; the decisions (chosen experts and their weights) from forward hooks
on the router modules, which in transformers 5 return ``(logits, top-k weights, top-k experts)``.
The routers are found through the model's own declaration of what records ``router_logits``
(``_can_record_outputs``), so every family that transformers wires up is covered; failing that,
modules named ``*.gate`` or ``*.router`` are hooked and the top-k of the softmax is taken.

Per MoE layer:

* ``load``: how many tokens each expert received (each token counts ``top_k`` times in all);
* ``cv``: coefficient of variation of the load (0: perfectly even), ``entropy``: entropy of the
  load shares over ``ln(num_experts)`` (1: perfectly even);
* ``aux_loss``: the Switch-style load-balancing loss ``num_experts × Σ_i f_i · P_i``, with ``f_i``
  the number of choices of expert i per token (the shares sum to ``top_k``, as in transformers'
  ``load_balancing_loss_func``) and ``P_i`` its mean softmax probability; an even router gives
  ``top_k``. ``aux_loss_total`` pools all layers the way transformers does, and is checked against
  its function (``reference_aux_loss``) and the model's own ``aux_loss`` where they exist;
* ``coactivation``: how many tokens chose both expert i and expert j (the diagonal is the load).

``compare_routing(first, second)`` sets two routings through the same model side by side: each
text's load shares per layer and the Jensen-Shannon divergence of the two (:func:`js_divergence`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from nbrag.display import Shown
from nbrag.errors import NbragError
from nbrag.inspectors.base import (
    NoExpertsError,
    check_index,
    device_of,
    encode,
    evaluating,
    family,
    is_tiny,
    jsonable,
    load,
    text_config,
)
from nbrag.models import model_name

TRAINED = ("allenai/OLMoE-1B-7B-0924", "Qwen/Qwen1.5-MoE-A2.7B", "ibm-granite/granite-3.1-1b-a400m-instruct")


@dataclass
class RoutingTrace(Shown):
    """The routing of one text through every MoE layer: ``experts[l, t]``, ``weights[l, t]`` for layer ``layers[l]``.

    Its view colours the text by each token's first-choice expert in a layer and draws the load and the
    co-activation (``view(layer=, expert=)`` sets where it opens)."""

    text: str
    model: str
    family: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    layers: list[int]  # the model's layer number of each MoE layer (dense layers are left out)
    num_experts: int
    top_k: int
    logits: np.ndarray  # float32 [layers, tokens, experts]
    experts: np.ndarray  # int64 [layers, tokens, top_k], the heaviest weight first
    weights: np.ndarray  # float32 [layers, tokens, top_k], as the model mixes the experts' outputs
    load: np.ndarray  # int64 [layers, experts]
    cv: np.ndarray  # [layers]
    entropy: np.ndarray  # [layers], normalised to [0, 1]
    aux_loss: np.ndarray  # [layers]
    aux_loss_total: float
    coactivation: np.ndarray  # int64 [layers, experts, experts]
    model_aux_loss: float | None = None  # the aux_loss the model itself returned
    source: str = ""  # where logits and decisions came from
    notes: list[str] = field(default_factory=list)
    # transformers' load_balancing_loss_func from the model's module, if it has one: reference_aux_loss calls it
    loss_func: Callable[..., Any] | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def reference_aux_loss(self) -> float | None:
        """transformers' ``load_balancing_loss_func`` on the same logits (None where the model's module has none),
        worked out when first read: a check on ``aux_loss_total`` that routing() need not pay for."""
        return _reference_loss(self.loss_func, self.logits, self.top_k)

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    def token(self, index: int) -> list[dict[str, Any]]:
        """Token ``index``'s route: per MoE layer, its experts and their weights."""
        i = check_index(index, self.num_tokens, "tokens", option="index", owner="this text")
        return [{"layer": layer, "experts": self.experts[r, i].tolist(), "weights": self.weights[r, i].tolist()}
                for r, layer in enumerate(self.layers)]

    def row(self, layer: int) -> int:
        """The row of model layer ``layer`` in the arrays (``load[row]``), or an error when it has no router."""
        if layer not in self.layers:
            raise NbragError(f"no router in this layer: the MoE layers of this model are {self.layers}.",
                             option="layer", value=layer)
        return self.layers.index(layer)

    def routed_to(self, layer: int, expert: int) -> list[int]:
        """The token positions that chose ``expert`` in model layer ``layer``."""
        row = self.row(layer)
        e = check_index(expert, self.num_experts, "experts per layer", option="expert")
        return np.nonzero((self.experts[row] == e).any(axis=-1))[0].tolist()

    def to_dict(self) -> dict[str, Any]:
        data = jsonable({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "loss_func"})
        return {**data, "reference_aux_loss": self.reference_aux_loss}

    def __repr__(self) -> str:
        return (f"RoutingTrace({self.model}: {self.num_tokens} tokens × {len(self.layers)} MoE layers, "
                f"top-{self.top_k} of {self.num_experts} experts, load CV {self.cv.mean():.2f}, "
                f"aux loss {self.aux_loss_total:.3f})")


@dataclass
class Router:
    layer: int
    name: str
    module: Any
    index: int  # where the logits sit in the module's output tuple
    experts: Any = None  # the sibling experts module, whose inputs are the decisions the model acts on


def routing(text: str, model: Any = None, *, tokenizer: Any = None, max_tokens: int = 512) -> RoutingTrace:
    """Route ``text`` through a mixture-of-experts model and measure each MoE layer's choices and balance."""
    import torch

    loaded = load(model, tokenizer)
    net = loaded.model
    routers, accepts, keeps_logits = _setup(net, loaded.name)
    enc = encode(loaded.tokenizer, text, max_tokens=max_tokens)
    captured: dict[str, Any] = {}
    given: dict[str, Any] = {}  # what each layer's experts module received: (top-k experts, weights)

    def keep_output(name: str):
        def hook(module, args, output) -> None:  # returns None: the output goes on unchanged
            captured.setdefault(name, output)
        return hook

    def keep_inputs(name: str):
        def hook(module, args, kwargs) -> None:  # returns None: the inputs go on unchanged
            given.setdefault(name, _expert_inputs(args, kwargs))
        return hook

    hooks = [r.module.register_forward_hook(keep_output(r.name)) for r in routers]
    hooks += [r.experts.register_forward_pre_hook(keep_inputs(r.name), with_kwargs=True)
              for r in routers if r.experts is not None]
    try:
        with evaluating(net), torch.inference_mode():  # no autograd bookkeeping: the trace keeps numbers only
            ids = enc.ids.to(device_of(net))
            extra = {"output_router_logits": True} if accepts else {}
            if keeps_logits:  # the next-token logits of the last position only: routing reads none of them
                extra["logits_to_keep"] = 1
            out = net(input_ids=ids, attention_mask=ids.new_ones(ids.shape), **extra)
    finally:
        for hook in hooks:
            hook.remove()
    missing = [r.name for r in routers if r.name not in captured]
    if missing:
        raise RuntimeError(f"The routers {', '.join(missing)} did not run for this text; the model routes "
                           "some other way than its modules declare.")
    top_k = _config_top_k(net)
    notes = list(loaded.notes)
    official = out.get("router_logits") if hasattr(out, "get") else None
    use_official = official is not None and len(official) == len(routers)
    logits, experts, weights, kinds = [], [], [], set()
    for i, r in enumerate(routers):
        lg, w, e = _decisions(captured[r.name], r.index, top_k, loaded.name)
        if w is None and given.get(r.name) is not None:
            e, w = given[r.name]
            kinds.add("experts")
        else:
            kinds.add("router" if w is not None else "reconstructed")
        if use_official:
            lg = official[i]
        lg = lg.detach().float().reshape(-1, lg.shape[-1])
        if w is None:  # the router gives logits only: take the softmax's top-k
            w, e = torch.softmax(lg, dim=-1).topk(top_k, dim=-1)
        order = w.float().argsort(dim=-1, descending=True)
        logits.append(lg.cpu().numpy())
        experts.append(e.gather(-1, order).cpu().numpy())
        weights.append(w.float().gather(-1, order).cpu().numpy())
    logits_np, experts_np = np.stack(logits).astype(np.float32), np.stack(experts).astype(np.int64)
    weights_np = np.stack(weights).astype(np.float32)
    k = experts_np.shape[-1]
    if top_k is not None and k != top_k:
        notes.append(f"The routers chose {k} experts per token; the config's num_experts_per_tok is {top_k}.")
    how = {"router": "chosen experts and weights as the routers returned them",
           "experts": "chosen experts and weights as the experts module received them (the router gives logits only)",
           "reconstructed": "chosen experts reconstructed as the softmax's top-k (the router gives logits only)"}
    source = ("logits from output_router_logits" if use_official else "logits from hooks on the routers") + \
        "".join(f"; {how[kind]}" for kind in sorted(kinds, key=list(how).index))
    if any(hasattr(r.module, "e_score_correction_bias") for r in routers):
        notes.append("This router scores experts with a sigmoid plus a learned bias (e_score_correction_bias) and "
                     "balances load with that bias, not with an auxiliary loss: the Switch-style loss here uses the "
                     "softmax of its logits, for comparison only.")
    stats = balance(logits_np, experts_np)
    return RoutingTrace(text=text, model=loaded.name, family=family(net), tokens=enc.tokens, offsets=enc.offsets,
                        layers=[r.layer for r in routers], num_experts=int(logits_np.shape[-1]), top_k=k,
                        logits=logits_np, experts=experts_np, weights=weights_np, **stats,
                        loss_func=getattr(sys.modules.get(type(net).__module__), "load_balancing_loss_func", None),
                        model_aux_loss=_scalar(out.get("aux_loss") if hasattr(out, "get") else None),
                        source=source, notes=notes)


def balance(logits: np.ndarray, experts: np.ndarray) -> dict[str, Any]:
    """Load, CV, normalised entropy, Switch loss (per layer and pooled) and co-activation of routing decisions."""
    layers, tokens, num_experts = logits.shape
    onehot = np.zeros((layers, tokens, num_experts), np.int64)
    np.put_along_axis(onehot, experts, 1, axis=-1)
    load = onehot.sum(axis=1)
    mean = load.mean(axis=-1)
    std = np.sqrt(np.square(load - mean[:, None]).mean(axis=-1))  # as load.std(axis=-1), in a third of the time
    cv = std / np.where(mean > 0, mean, 1)
    share = load / load.sum(axis=-1, keepdims=True)
    entropy = -(share * np.log(np.where(share > 0, share, 1))).sum(axis=-1) / np.log(num_experts)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs = shifted / shifted.sum(axis=-1, keepdims=True)
    f, p = load / tokens, probs.mean(axis=1)
    aux = num_experts * (f * p).sum(axis=-1)
    total = num_experts * float((f.mean(axis=0) * p.mean(axis=0)).sum())
    coactivation = onehot.transpose(0, 2, 1) @ onehot  # [layers, experts, experts]
    return {"load": load, "cv": cv.astype(np.float32), "entropy": entropy.astype(np.float32),
            "aux_loss": aux.astype(np.float32), "aux_loss_total": total, "coactivation": coactivation}


class _Setup(NamedTuple):
    routers: list[Router]
    accepts: bool  # takes output_router_logits
    keeps_logits: bool  # takes logits_to_keep (a causal LM head)


# per model: its routers and what its forward takes, found once (the model's modules are walked each time to look
# them up, which costs a fifth of a small forward); dropped with the model
_SETUPS: weakref.WeakKeyDictionary[Any, _Setup] = weakref.WeakKeyDictionary()


def _setup(net: Any, name: str) -> _Setup:
    """The routers of ``net`` and what its forward takes, kept while its router modules stay where they were."""
    kept = _SETUPS.get(net)
    if kept is not None and all(_submodule(net, r.name) is r.module and
                                (r.experts is None or _submodule(net, _experts_path(r.name)) is r.experts)
                                for r in kept.routers):
        return kept
    routers = find_routers(net, name)
    parameters = inspect.signature(net.forward).parameters
    # a model that declares a router_logits recorder takes output_router_logits, in its signature or its **kwargs
    accepts = "output_router_logits" in parameters or _router_recorder(net) is not None
    _SETUPS[net] = _Setup(routers, accepts, "logits_to_keep" in parameters)
    return _SETUPS[net]


def _submodule(net: Any, path: str) -> Any:
    try:
        return net.get_submodule(path)
    except AttributeError:
        return None


def _experts_path(router: str) -> str:
    return f"{router.rpartition('.')[0]}.experts"


def find_routers(model: Any, name: str | None = None) -> list[Router]:
    """The router module of every MoE layer, in layer order; :class:`NoExpertsError` (naming the model as
    ``name``) when there are none."""
    routers = []
    recorder = _router_recorder(model)
    modules = dict(model.named_modules())
    if recorder is not None:
        cls, layer_name = getattr(recorder, "target_class", None), getattr(recorder, "layer_name", None)
        class_name = getattr(recorder, "class_name", None)
        for path, module in model.named_modules():
            if (isinstance(module, cls) if cls is not None else type(module).__name__ == class_name) and \
                    (layer_name is None or path.endswith(layer_name) or f"{layer_name}." in f"{path}."):
                routers.append(Router(_layer_number(path, len(routers)), path, module, int(recorder.index)))
    else:  # transformers without output recorders: hook gates by name, their output is the logits
        for path, module in model.named_modules():
            if re.search(r"\.(gate|router)$", path) and "shared" not in path:
                routers.append(Router(_layer_number(path, len(routers)), path, module, 0))
    for router in routers:
        router.experts = modules.get(_experts_path(router.name))
    if not routers:
        from nbrag.inspectors.tiny import families

        raise NoExpertsError(
            f"has no experts: {type(model).__name__} ({family(model)}) sends every token through the same "
            "feed-forward layer, so there is no routing to show. Try a mixture-of-experts model: a tiny one with "
            f"random weights, tiny:<family> for a family among {', '.join(families(moe=True))} (e.g. tiny:mixtral), "
            f"or a trained one where a hub is reachable, such as {', '.join(TRAINED)}.", option="model",
            value=name or model_name(model))
    return sorted(routers, key=lambda r: r.layer)


def _router_recorder(model: Any) -> Any:
    for module in model.modules():
        recorder = (getattr(type(module), "_can_record_outputs", None) or {}).get("router_logits")
        if recorder is not None:
            return recorder
    return None


def _layer_number(name: str, fallback: int) -> int:
    match = re.search(r"\.(\d+)\.", f".{name}.")
    return int(match.group(1)) if match else fallback


def _decisions(output: Any, index: int, top_k: int | None, name: str) -> tuple[Any, Any, Any]:
    """``(logits, weights, experts)`` from a router's output; weights and experts None when it gives logits only."""
    import torch

    if isinstance(output, tuple) and len(output) >= 3 and index == 0:
        logits, weights, experts = output[:3]
        if all(isinstance(t, torch.Tensor) for t in (logits, weights, experts)) and not experts.is_floating_point() \
                and weights.shape == experts.shape and weights.shape[-1] <= logits.shape[-1]:
            return logits, weights, experts
    logits = output[index] if isinstance(output, tuple) else output
    if top_k is None:
        raise NbragError("its routers return logits only and its config has no num_experts_per_tok, so the chosen "
                         "experts cannot be told; give a model whose config states its top-k.", option="model",
                         value=name)
    return logits, None, None


def _expert_inputs(args: tuple, kwargs: dict) -> tuple[Any, Any] | None:
    """``(top-k experts, weights)`` among an experts module's inputs: the integer tensor, the float one of its shape."""
    import torch

    tensors = [v for v in (*args[1:], *kwargs.values()) if isinstance(v, torch.Tensor)]
    index = next((t for t in tensors if not t.is_floating_point()), None)
    weights = next((t for t in tensors if t.is_floating_point() and index is not None and t.shape == index.shape), None)
    return (index, weights) if weights is not None else None


def _config_top_k(model: Any) -> int | None:
    config = text_config(model)
    value = getattr(config, "num_experts_per_tok", None) or getattr(config, "moe_topk", None) or \
        getattr(getattr(config, "ffn_config", None), "moe_top_k", None)  # DBRX
    return int(value) if value else None


def _reference_loss(func: Callable[..., Any] | None, logits: np.ndarray, top_k: int) -> float | None:
    """transformers' own ``load_balancing_loss_func`` (from the model's module) on the same logits, if it has one."""
    import torch

    if func is None:
        return None
    value = func(tuple(torch.from_numpy(layer) for layer in logits), logits.shape[-1], top_k, None)
    return _scalar(value)


def _scalar(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.item() if hasattr(value, "item") else value)


# ---------------------------------------------------------------------- two routings compared

def js_divergence(p: Any, q: Any) -> float:
    """Jensen-Shannon divergence of two distributions (normalised here), in bits: 0 equal, 1 disjoint."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.shape != q.shape:
        raise NbragError(f"p and q differ in length: {p.shape} and {q.shape}; give two distributions over the same "
                         "outcomes.")
    if p.sum() <= 0 or q.sum() <= 0 or np.any(p < 0) or np.any(q < 0):
        raise NbragError("p and q need non-negative values with a positive sum.")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        keep = a > 0
        return float((a[keep] * np.log2(a[keep] / m[keep])).sum())

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


@dataclass
class RoutingComparison(Shown):
    """Two routings through the same MoE model (e.g. code and prose): load shares per layer and expert, and how
    far apart the two load distributions are in each layer (Jensen-Shannon divergence, bits). Its view draws both
    loads side by side for a layer, and the divergence per layer."""

    names: tuple[str, str]
    model: str
    layers: list[int]
    num_experts: int
    top_k: int
    shares: np.ndarray  # [2, layers, experts]: each text's load shares (a layer's row sums to 1)
    js: np.ndarray  # [layers], bits: 0 the same shares, 1 no expert in common
    tokens: tuple[int, int]
    tiny: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def specialisation(self) -> float:
        """The mean over layers of the Jensen-Shannon divergence."""
        return float(self.js.mean())

    def to_dict(self) -> dict[str, Any]:
        return {**jsonable(self), "specialisation": self.specialisation}

    def __repr__(self) -> str:
        return (f"RoutingComparison({self.model}: {self.names[0]!r} vs {self.names[1]!r}, {len(self.layers)} MoE "
                f"layers, JS divergence of the loads {self.specialisation:.3f} bits on average)")


def compare_routing(first: RoutingTrace, second: RoutingTrace,
                    names: tuple[str, str] | None = None) -> RoutingComparison:
    """Compare two routings through the same model: per MoE layer, each text's load shares per expert and the
    Jensen-Shannon divergence of the two (a specialisation score: how differently the texts use the experts).

    Expert numbers only mean the same expert within one model, so both traces must come from the same model
    (same MoE layers, same number of experts)."""
    if first.layers != second.layers or first.num_experts != second.num_experts:
        raise NbragError(f"comes from a different model than first ({first.model}: MoE layers {first.layers}, "
                         f"{first.num_experts} experts; {second.model}: {second.layers}, {second.num_experts} "
                         "experts): expert i of one is not expert i of the other. Route both texts through the same "
                         "model.",
                         option="second")
    notes = []
    if first.model != second.model:
        notes.append(f"The traces name different models ({first.model}, {second.model}) of the same shape: "
                     "the comparison assumes they are the same model.")
    names = names or (_short(first.text), _short(second.text))
    shares = np.stack([t.load / np.maximum(t.load.sum(axis=-1, keepdims=True), 1) for t in (first, second)])
    js = np.array([js_divergence(first.load[r], second.load[r]) for r in range(len(first.layers))], np.float32)
    return RoutingComparison(names=(str(names[0]), str(names[1])), model=first.model, layers=list(first.layers),
                             num_experts=first.num_experts, top_k=first.top_k, shares=shares, js=js,
                             tokens=(first.num_tokens, second.num_tokens),
                             tiny=is_tiny(first.model, first.notes) or is_tiny(second.model, second.notes),
                             notes=notes)


def _short(text: str, size: int = 24) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[:size - 1] + "…"
