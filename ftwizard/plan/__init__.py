"""Every number a run will have, computed once, as frozen values that prepare, estimate, the workers, the wizard
and the verdict read (none re-derives): `LocalSchedule`, `HostedPlan`, `Price`, `TokenStats`, `Fit`."""

from ftwizard.plan.fit import Fit, fit_on
from ftwizard.plan.hosted import HostedPlan, hosted_epochs, hosted_plan
from ftwizard.plan.price import Price
from ftwizard.plan.schedule import LocalSchedule, local_schedule, steps_for
from ftwizard.plan.tokens import ESTIMATE_ENCODING, TokenStats

__all__ = ["ESTIMATE_ENCODING", "Fit", "HostedPlan", "LocalSchedule", "Price", "TokenStats", "fit_on",
           "hosted_epochs", "hosted_plan", "local_schedule", "steps_for"]
