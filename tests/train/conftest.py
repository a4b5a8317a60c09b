from __future__ import annotations

import pytest
from train_testing import topic_corpus


@pytest.fixture(scope="session")
def corpus() -> list[list[str]]:
    return topic_corpus()
