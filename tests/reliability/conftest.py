"""A lab of its own for the reliability tests: 2 real servers, 1 director and a client."""
import os

import pytest
from lab_fixture import lab_up


@pytest.fixture(scope='session')
def lab():
    with lab_up(os.environ.get('LVSDR_REL_LAB', 'rel-arp'), '--realservers', '2', '--directors', '1') as up:
        yield up
