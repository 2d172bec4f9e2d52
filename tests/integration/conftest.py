"""A lab of our own for the integration tests: one real server and a client on a bridge of
their own (lab/lab, a separate name and subnet), brought up once per session."""
import os
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(ROOT, 'lab', 'lab')


class Lab(object):
    def __init__(self, name):
        self.name = name
        self.root = ROOT
        self.inventory = os.path.join(ROOT, '.cache', 'lab', name, 'inventory.yml')
        with open(self.inventory) as f:
            top = yaml.safe_load(f)['all']
        self.vars = top['vars']
        self.hosts = {}
        for group in top['children'].values():
            self.hosts.update(group.get('hosts') or {})

    def playbook(self, playbook, *args):
        """ansible-playbook from the repository root (ansible.cfg finds lvs.dr there)."""
        return subprocess.run(['ansible-playbook', '-i', self.inventory, os.path.join(HERE, playbook)] + list(args),
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)


@pytest.fixture(scope='session')
def lab():
    # A lab name of its own, so a second checkout's test run can go on beside this one.
    name = os.environ.get('LVSDR_IT_LAB', 'lvsdr-it')
    subprocess.run([LAB, '--name', name, 'up', '--realservers', '1', '--directors', '0'], check=True)
    try:
        yield Lab(name)
    finally:
        subprocess.run([LAB, '--name', name, 'down'], check=True)
