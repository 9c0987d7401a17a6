"""scikit-learn's estimator conventions, for every estimator of the package."""

from __future__ import annotations

import inspect
import numbers


class EstimatorParams:
    """``get_params``, ``set_params`` and a ``repr`` of the changed parameters.

    The constructor's keyword parameters are the parameters; the constructor
    only stores them (scikit-learn's rule, which makes ``clone`` work).
    """

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self, deep=True):
        """The constructor parameters, as a dict (``deep`` is accepted for scikit-learn)."""
        del deep
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns ``self``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid "
                                 f"parameters are {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if not _same(value, defaults[name].default)]
        return f"{type(self).__name__}({', '.join(changed)})"


def _same(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def is_json_seed(value) -> bool:
    """Whether a ``random_state`` is a plain seed that a saved model can keep."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0
