import os
import random

import pytest


@pytest.fixture
def seed(request) -> int:
    """Random seed for a test: ``SYSTOLICA_SEED`` replays one; printed either way."""
    value = int(os.environ.get("SYSTOLICA_SEED", random.randrange(2**31)))
    print(f"\n{request.node.nodeid}: SYSTOLICA_SEED={value}")
    return value
