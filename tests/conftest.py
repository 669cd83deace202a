"""Shared test settings: the hypothesis profiles.

HYPOTHESIS_PROFILE=dev (default): quick local runs. HYPOTHESIS_PROFILE=ci: the CI run, 200 examples
per property.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
