"""Variables and expressions for parametrised sequences.

A :class:`Variable` is declared on a sequence (``seq.declare_variable("t", dtype=int)``) and
used in place of a number: in waveform and pulse arguments, delays, phase shifts and targets.
Arithmetic on a variable gives an :class:`Expression`, an inspectable tree whose nodes carry
an operator name (``"add"``, ``"mul"``, ``"index"``, ``"neg"``, ``"sqrt"``, ...) and operands,
mirroring Pulser's abstract representation (``{"variable": name}`` /
``{"expression": op, "lhs": ..., "rhs": ...}``).

Waveforms and pulses built with variables are *deferred*: the constructor returns a
:class:`~sequencer.waveforms.DeferredWaveform` (or :class:`~sequencer.pulse.DeferredPulse`)
that records the class and arguments and is constructed for real by
``Sequence.build(**values)``, which replays every recorded call with the values substituted.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sequencer.errors import ParameterError

__all__ = ["Expression", "Parametrized", "Variable", "is_parametrized", "resolve"]

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,
    "mod": operator.mod,
}
_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": operator.neg,
    "abs": np.abs,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log2": np.log2,
    "log": np.log,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "tanh": np.tanh,
}


class Parametrized:
    """Base of variables and expressions: arithmetic builds an expression tree."""

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The value for the variable values in ``values`` (name → scalar or array)."""
        raise NotImplementedError

    def variables(self) -> frozenset[str]:
        """Names of the variables this depends on."""
        raise NotImplementedError

    def _bin(self, op: str, other: Any, reflected: bool = False) -> Expression:
        return Expression(op, other, self) if reflected else Expression(op, self, other)

    def __add__(self, other: Any) -> Expression:
        return self._bin("add", other)

    def __radd__(self, other: Any) -> Expression:
        return self._bin("add", other, True)

    def __sub__(self, other: Any) -> Expression:
        return self._bin("sub", other)

    def __rsub__(self, other: Any) -> Expression:
        return self._bin("sub", other, True)

    def __mul__(self, other: Any) -> Expression:
        return self._bin("mul", other)

    def __rmul__(self, other: Any) -> Expression:
        return self._bin("mul", other, True)

    def __truediv__(self, other: Any) -> Expression:
        return self._bin("div", other)

    def __rtruediv__(self, other: Any) -> Expression:
        return self._bin("div", other, True)

    def __pow__(self, other: Any) -> Expression:
        return self._bin("pow", other)

    def __rpow__(self, other: Any) -> Expression:
        return self._bin("pow", other, True)

    def __mod__(self, other: Any) -> Expression:
        return self._bin("mod", other)

    def __neg__(self) -> Expression:
        return Expression("neg", self)

    def __abs__(self) -> Expression:
        return Expression("abs", self)

    def __round__(self, ndigits: int | None = None) -> Expression:
        return Expression("round", self)

    def __getitem__(self, index: int) -> Expression:
        return Expression("index", self, index)

    def floor(self) -> Expression:
        """⌊self⌋."""
        return Expression("floor", self)

    def ceil(self) -> Expression:
        """⌈self⌉."""
        return Expression("ceil", self)

    def sqrt(self) -> Expression:
        """√self."""
        return Expression("sqrt", self)

    def exp(self) -> Expression:
        """e^self."""
        return Expression("exp", self)

    def log(self) -> Expression:
        """ln(self)."""
        return Expression("log", self)

    def log2(self) -> Expression:
        """log₂(self)."""
        return Expression("log2", self)

    def sin(self) -> Expression:
        """The sin of this value, as an expression."""
        return Expression("sin", self)

    def cos(self) -> Expression:
        """The cos of this value, as an expression."""
        return Expression("cos", self)

    def tan(self) -> Expression:
        """The tan of this value, as an expression."""
        return Expression("tan", self)

    def tanh(self) -> Expression:
        """The tanh of this value, as an expression."""
        return Expression("tanh", self)

    def __bool__(self) -> bool:
        raise ParameterError(f"{self!r} has no truth value before build()")

    __hash__ = object.__hash__


class Variable(Parametrized):
    """A named value given at ``build()`` time: ``size`` numbers of type ``dtype``.

    A variable of size 1 evaluates to a scalar; a larger one to a 1-D array.
    """

    def __init__(self, name: str, size: int = 1, dtype: type = float) -> None:
        if not name or not isinstance(name, str):
            raise ParameterError(f"a variable name must be a non-empty string; got {name!r}")
        size = as_int(size, f"variable {name!r}: size")
        if size < 1:
            raise ParameterError(f"variable {name!r}: size must be >= 1; got {size}")
        if dtype not in (int, float):
            raise ParameterError(f"variable {name!r}: dtype must be int or float; got {dtype!r}")
        self.name = name
        self.size = int(size)
        self.dtype = dtype

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The value given for this variable (validated by ``Sequence.build``)."""
        if self.name not in values:
            raise ParameterError(f"no value given for variable {self.name!r}")
        return values[self.name]

    def variables(self) -> frozenset[str]:
        """``{name}``."""
        return frozenset({self.name})

    def coerce(self, value: Any) -> Any:
        """Check ``value`` against size and dtype; a scalar for size 1, else an array."""
        arr = np.atleast_1d(np.asarray(value))
        if arr.ndim != 1 or arr.size != self.size:
            raise ParameterError(
                f"variable {self.name!r} takes {self.size} value(s); got {np.shape(value)}"
            )
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_):
            raise ParameterError(f"variable {self.name!r} takes numbers; got {value!r}")
        if self.dtype is int:
            if not np.all(np.equal(np.mod(arr, 1), 0)):
                raise ParameterError(f"variable {self.name!r} takes integers; got {value!r}")
            out: Any = arr.astype(np.int64)
        else:
            out = arr.astype(np.float64)
        if self.size == 1:
            return int(out[0]) if self.dtype is int else float(out[0])
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Variable) and (self.name, self.size, self.dtype) == (
            other.name,
            other.size,
            other.dtype,
        )

    __hash__ = Parametrized.__hash__

    def __repr__(self) -> str:
        return f"Variable({self.name!r}, size={self.size}, dtype={self.dtype.__name__})"


class Expression(Parametrized):
    """An operator applied to operands, at least one of them parametrised.

    ``op`` is a binary operator (``add sub mul div pow mod index``: operands ``lhs``, ``rhs``)
    or a unary one (``neg abs floor ceil round sqrt exp log2 log sin cos tan tanh``: ``lhs``).
    """

    def __init__(self, op: str, lhs: Any, rhs: Any = None) -> None:
        if op not in _BINARY and op not in _UNARY and op != "index":
            raise ParameterError(f"unknown operator {op!r}")
        self.op = op
        self.lhs = lhs
        self.rhs = rhs

    @property
    def is_unary(self) -> bool:
        """Whether the operator takes one operand."""
        return self.op in _UNARY

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Evaluate the tree with numpy semantics."""
        lhs = resolve(self.lhs, values)
        if self.op in _UNARY:
            result = _UNARY[self.op](lhs)
        elif self.op == "index":
            arr = np.atleast_1d(np.asarray(lhs))
            idx = int(resolve(self.rhs, values))
            if not -arr.size <= idx < arr.size:
                raise ParameterError(f"index {idx} is outside a variable of size {arr.size}")
            result = arr[idx]
        else:
            result = _BINARY[self.op](lhs, resolve(self.rhs, values))
        if isinstance(result, np.generic):
            return result.item()
        return result

    def variables(self) -> frozenset[str]:
        """Names of the variables in the tree."""
        out: frozenset[str] = frozenset()
        for side in (self.lhs, self.rhs):
            if isinstance(side, Parametrized):
                out |= side.variables()
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return False
        return self.op == other.op and _equal(self.lhs, other.lhs) and _equal(self.rhs, other.rhs)

    __hash__ = Parametrized.__hash__

    def __repr__(self) -> str:
        if self.is_unary:
            return f"{self.op}({self.lhs!r})"
        return f"{self.op}({self.lhs!r}, {self.rhs!r})"


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, Parametrized) or isinstance(b, Parametrized):
        return type(a) is type(b) and bool(a.__eq__(b))
    if isinstance(a, list | tuple | np.ndarray) or isinstance(b, list | tuple | np.ndarray):
        if not isinstance(a, list | tuple | np.ndarray) or not isinstance(
            b, list | tuple | np.ndarray
        ):
            return False
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def is_parametrized(obj: Any) -> bool:
    """Whether ``obj`` (a number, list, waveform, pulse, ...) depends on a variable."""
    if isinstance(obj, Parametrized):
        return True
    if isinstance(obj, list | tuple):
        return any(is_parametrized(x) for x in obj)
    if isinstance(obj, dict):
        return any(is_parametrized(x) for x in obj.values())
    check = getattr(obj, "is_parametrized", None)
    if callable(check):
        return bool(check())
    return False


def resolve(obj: Any, values: Mapping[str, Any]) -> Any:
    """Substitute variable values in ``obj`` (recursively through lists, tuples, dicts)."""
    if isinstance(obj, Parametrized):
        return obj.evaluate(values)
    if isinstance(obj, list):
        out = [resolve(x, values) for x in obj]
        return out
    if isinstance(obj, tuple):
        return tuple(resolve(x, values) for x in obj)
    if isinstance(obj, dict):
        return {k: resolve(v, values) for k, v in obj.items()}
    build = getattr(obj, "build", None)
    if callable(build) and getattr(obj, "is_parametrized", None) is not None:
        if obj.is_parametrized():
            return build(values)
    return obj


def as_int(value: Any, what: str) -> int:
    """``value`` as an int, refusing fractional or non-numeric values."""
    if isinstance(value, bool):
        raise ParameterError(f"{what} must be an integer; got {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what} must be an integer; got {value!r}") from exc
    if not math.isfinite(f) or f != math.floor(f):
        raise ParameterError(f"{what} must be an integer; got {value!r}")
    return int(f)
