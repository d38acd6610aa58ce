"""`recondiff compare`, keeping the derived repository snapshot the identity
policies wrote (the state they expect) at the path in $KEEP_DERIVED.

    KEEP_DERIVED=/var/tmp/derived.parquet python benchmarks/keep_derived.py compare -c ... -o ...

For benchmarks/policies.py --same-drift: compared under a config without
[[policy]], that snapshot gives the same drift as the run with policies, so
the difference between the two runs is what the policies phase itself costs,
and the difference between it and the plain run is what the drift the
policies expose costs the later phases. Not timed: a preparation step.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from recondiff import compare
from recondiff.cli.main import main

_policies = compare._policies


def _keep(*args: Any) -> Any:
    policy_run = _policies(*args)
    if policy_run is not None:
        shutil.copyfile(policy_run.derived, os.environ["KEEP_DERIVED"])
    return policy_run


compare._policies = _keep  # type: ignore[assignment]

if __name__ == "__main__":
    main()
