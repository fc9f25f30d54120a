"""Optimizers by name, including Lion (torch has none)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch.optim import Optimizer

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "lion")


def _closure_loss(closure: Callable[[], float] | None) -> float | None:
    """torch.optim's step(closure) convention: the loss the closure recomputes, with gradients on."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class Lion(Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"):
    update = sign(beta1 * m + (1 - beta1) * g); m <- beta2 * m + (1 - beta2) * g;
    decoupled weight decay. One state tensor per parameter (Adam keeps two)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0) -> None:
        if lr <= 0:
            raise ValueError("lr must be positive")
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        # (one signature for torch's two overloads of step: with and without a closure)
        loss = _closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                update = (m * beta1 + p.grad * (1 - beta1)).sign_()
                p.add_(update, alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss


class SophiaG(Optimizer):
    """Sophia with the Gauss-Newton-Bartlett estimate (Liu et al. 2023, "Sophia: A Scalable
    Stochastic Second-order Optimizer for Language Model Pre-training"), as the authors' code
    (github.com/Liuhong99/Sophia, sophia.py) writes it:

        theta <- theta (1 - lr wd)
        m <- beta1 m + (1 - beta1) g
        theta <- theta - lr sign(m) min(|m| / (rho bs h + 1e-15), 1)

    where ``h`` is an exponential average (beta2) of the squared gradients of a loss on labels
    sampled from the model's own output distribution (``update_hessian``, every k steps; the
    training loop computes those gradients) and ``bs`` the tokens of a step, so that bs h is the
    GNB estimate of the Hessian's diagonal. Until the first estimate h is 0 and the update is
    sign(m): the clipping bounds every coordinate's step by lr. Two state tensors (m, h)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-4, betas: tuple[float, float] = (0.965, 0.99),
                 rho: float = 0.04, weight_decay: float = 0.1, bs: int = 5120) -> None:
        if lr <= 0 or rho < 0 or bs < 1 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError("SophiaG needs lr > 0, rho >= 0, bs >= 1 and betas in [0, 1)")
        super().__init__(params, {"lr": lr, "betas": betas, "rho": rho, "weight_decay": weight_decay, "bs": bs})

    def _state(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        state: dict[str, torch.Tensor] = self.state[p]
        if not state:
            state["exp_avg"] = torch.zeros_like(p)
            state["hessian"] = torch.zeros_like(p)
        return state

    @torch.no_grad()
    def update_hessian(self) -> None:
        """h <- beta2 h + (1 - beta2) g^2, with g the gradients now held (of the sampled-label loss)."""
        for group in self.param_groups:
            beta2 = group["betas"][1]
            for p in group["params"]:
                if p.grad is not None:
                    self._state(p)["hessian"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        # (one signature for torch's two overloads of step: with and without a closure)
        loss = _closure_loss(closure)
        for group in self.param_groups:
            beta1 = group["betas"][0]
            lr, rho, bs = group["lr"], group["rho"], group["bs"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self._state(p)
                m, h = state["exp_avg"], state["hessian"]
                p.mul_(1 - lr * group["weight_decay"])
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                ratio = (m.abs() / (rho * bs * h + 1e-15)).clamp(None, 1)
                p.addcmul_(m.sign(), ratio, value=-lr)
        return loss


def build_optimizer(name: str, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0,
                    momentum: float = 0.9) -> Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "lion":
        return Lion(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")
