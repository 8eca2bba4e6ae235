"""Testing tools for your own pytest suite: ``gradcheck``, ``gradgradcheck`` and the op registry
(``registry``, ``op_db``)."""

from . import op_db, registry  # noqa: F401  (importing op_db registers every op of the package)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "registry"]
