"""Learning-rate schedules: the learning rate as a function of the optimizer's step count.

A schedule is a callable ``schedule(step) -> lr`` with ``step`` the number of steps taken
before this one (0 for the first step), as in Keras; an optimizer given one as its
``learning_rate`` calls it at every step. ``config()`` gives its settings as JSON values
and ``Schedule.from_config`` makes it again, so a checkpoint keeps the schedule.

    StepDecay, ExponentialDecay, CosineDecay   decays from a first rate (Keras's)
    OneCycle                                    up, then down, over a run (PyTorch's OneCycleLR)
    Warmup                                      a linear ramp before any schedule or constant rate
                                                (PyTorch's LinearLR, then the schedule: SequentialLR)

chainrule.optimizers re-exports them all.
"""

import math

from ._checks import boolean, fail, is_number, number, one_of, positive_int, positive_number
from .errors import InputError


class Schedule:
    """A learning rate that changes with the step count: ``schedule(step) -> lr``."""

    def __call__(self, step):
        raise NotImplementedError

    def config(self):
        """The settings as JSON values, with the class name under "schedule"."""
        return {"schedule": type(self).__name__, **vars(self)}

    @staticmethod
    def from_config(config):
        settings = dict(config)
        name = settings.pop("schedule", None)
        classes = {cls.__name__: cls for cls in (StepDecay, ExponentialDecay, CosineDecay, OneCycle, Warmup)}
        if name not in classes:
            raise InputError(f"schedule must be one of {sorted(classes)}; received {name!r}")
        return classes[name](**settings)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """lr = initial_learning_rate * gamma ** floor(step / step_size)."""

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        self.initial_learning_rate = number("initial_learning_rate", initial_learning_rate, 0, low_open=True)
        self.step_size = int(number("step_size", step_size, 1))
        self.gamma = number("gamma", gamma, 0, 1, low_open=True)

    def __call__(self, step):
        return self.initial_learning_rate * self.gamma ** (step // self.step_size)


class ExponentialDecay(Schedule):
    """lr = initial_learning_rate * decay_rate ** (step / decay_steps)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate):
        self.initial_learning_rate = number("initial_learning_rate", initial_learning_rate, 0, low_open=True)
        self.decay_steps = number("decay_steps", decay_steps, 0, low_open=True)
        self.decay_rate = number("decay_rate", decay_rate, 0, 1, low_open=True)

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** (step / self.decay_steps)


class CosineDecay(Schedule):
    """lr = initial * (alpha + (1 - alpha) (1 + cos(pi t)) / 2), t = min(step, decay_steps) / decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0):
        self.initial_learning_rate = number("initial_learning_rate", initial_learning_rate, 0, low_open=True)
        self.decay_steps = number("decay_steps", decay_steps, 0, low_open=True)
        self.alpha = number("alpha", alpha, 0, 1)

    def __call__(self, step):
        t = min(step, self.decay_steps) / self.decay_steps
        return self.initial_learning_rate * (self.alpha + (1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * t)))


def _cos_anneal(start, end, pct):
    """From start (pct = 0) to end (pct = 1) along half a cosine."""
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def _linear_anneal(start, end, pct):
    return start + (end - start) * pct


class OneCycle(Schedule):
    """The one-cycle policy (Smith and Topin, 2018) with the meaning and defaults of
    PyTorch's OneCycleLR, over ``total_steps`` steps:

        initial = max_lr / div_factor;   final = initial / final_div_factor
        two phases:   initial -> max_lr over the steps 0 .. pct_start * total_steps - 1,
                      then max_lr -> final up to step total_steps - 1
        three_phase:  initial -> max_lr, max_lr -> initial (as long again, ending at step
                      2 pct_start total_steps - 2), then initial -> final

    Within a phase from step s0 to s1 and from rate a to b, with pct = (step - s0) / (s1 - s0):
    "cos" anneals as b + (a - b) (1 + cos(pi pct)) / 2, "linear" as a + (b - a) pct.
    Steps past the last one keep the final rate (PyTorch raises there). Only the learning
    rate cycles: PyTorch's default cycle_momentum (momentum 0.95 -> 0.85 -> 0.95) is not
    part of a chainrule schedule.
    """

    def __init__(self, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                 final_div_factor=1e4, three_phase=False):
        self.max_lr = positive_number("max_lr", max_lr)
        self.total_steps = positive_int("total_steps", total_steps)
        self.pct_start = number("pct_start", pct_start, 0, 1)
        self.anneal_strategy = one_of("anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.div_factor = positive_number("div_factor", div_factor)
        self.final_div_factor = positive_number("final_div_factor", final_div_factor)
        self.three_phase = boolean("three_phase", three_phase)

    def _phases(self):
        """[(end step, start rate, end rate)] of each phase, as OneCycleLR lays them out."""
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        up = self.pct_start * self.total_steps - 1
        last = self.total_steps - 1
        if self.three_phase:
            return [(up, initial, self.max_lr), (2 * self.pct_start * self.total_steps - 2, self.max_lr, initial),
                    (last, initial, final)]
        return [(up, initial, self.max_lr), (last, self.max_lr, final)]

    def __call__(self, step):
        anneal = _cos_anneal if self.anneal_strategy == "cos" else _linear_anneal
        phases = self._phases()
        step = min(step, self.total_steps - 1)
        start = 0
        for i, (end, a, b) in enumerate(phases):
            if step <= end or i == len(phases) - 1:
                # a phase of no length (pct_start * total_steps = 1, say) is at its end rate
                return anneal(a, b, (step - start) / (end - start) if end != start else 1.0)
            start = end


class Warmup(Schedule):
    """A linear warm-up of ``warmup_steps`` steps, then ``learning_rate`` (a number or a
    Schedule) from its own step 0, as PyTorch's SequentialLR of LinearLR(start_factor,
    end_factor=1, total_iters=warmup_steps) and the schedule, with milestone warmup_steps:

        lr = base * (start_factor + (1 - start_factor) * step / warmup_steps)   step < warmup_steps
        lr = schedule(step - warmup_steps)                                     after
        base = schedule(0) (the number itself for a constant rate)

    The default start_factor 0 rises from 0, so the first step has rate 0 (PyTorch's LinearLR
    takes start_factor in (0, 1], 1/3 by default); the wrapped schedule is shifted, so a
    CosineDecay over N steps ends N steps after the warm-up.
    """

    def __init__(self, learning_rate, warmup_steps, start_factor=0.0):
        if isinstance(learning_rate, dict):  # a schedule's config(), as saved in a checkpoint
            learning_rate = Schedule.from_config(learning_rate)
        if not isinstance(learning_rate, Schedule) and not (
                is_number(learning_rate) and math.isfinite(learning_rate) and learning_rate > 0):
            fail("learning_rate", "a positive number or a Schedule", learning_rate)
        self.learning_rate = learning_rate if isinstance(learning_rate, Schedule) else float(learning_rate)
        self.warmup_steps = positive_int("warmup_steps", warmup_steps)
        self.start_factor = number("start_factor", start_factor, 0, 1)

    def _after(self, step):
        lr = self.learning_rate
        return lr(step) if isinstance(lr, Schedule) else lr

    def __call__(self, step):
        if step >= self.warmup_steps:
            return self._after(step - self.warmup_steps)
        return self._after(0) * (self.start_factor + (1 - self.start_factor) * step / self.warmup_steps)

    def config(self):
        config = super().config()
        if isinstance(self.learning_rate, Schedule):
            config["learning_rate"] = self.learning_rate.config()
        return config


def schedule_steps(rate):
    """The steps a learning rate spans before it stays at its final value (a cosine decay,
    a one cycle, a warm-up before them), or None for a number or a schedule with no end."""
    if isinstance(rate, Warmup):
        inner = schedule_steps(rate.learning_rate)
        return None if inner is None else rate.warmup_steps + inner
    if isinstance(rate, CosineDecay):
        return rate.decay_steps
    if isinstance(rate, OneCycle):
        return rate.total_steps
    return None
