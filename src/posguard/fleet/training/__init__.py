"""Who needs training on what (issue 20): operator-error rates per merchant and operator
against the fleet's (``counts``), the training list with its topics (``training_list``), and
the sessions held with their measured effect (``sessions``). Served at ``/api/v1/training``
(``posguard.fleet.api.routes.training``) and on the dashboard at ``/ui/training``."""

from posguard.fleet.training.sessions import SessionRefusedError, list_sessions, record_session
from posguard.fleet.training.training_list import TrainingList, training_list

__all__ = [
    "SessionRefusedError",
    "TrainingList",
    "list_sessions",
    "record_session",
    "training_list",
]
