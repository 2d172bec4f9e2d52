"""A lab of our own for the integration tests: one real server and a client, once per session."""
import os

import pytest
from lab_fixture import lab_up


@pytest.fixture(scope='session')
def lab():
    # A lab name of its own, so a second checkout's test run can go on beside this one.
    with lab_up(os.environ.get('LVSDR_IT_LAB', 'lvsdr-it'), '--realservers', '1', '--directors', '0') as up:
        yield up
