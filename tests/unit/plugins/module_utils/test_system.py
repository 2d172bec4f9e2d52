from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.lvs.dr.plugins.module_utils import _system
from ansible_collections.lvs.dr.plugins.module_utils._plan import Refusal


def test_remove_takes_an_emptied_state_directory_with_it(tmp_path, monkeypatch):
    state, other = tmp_path / 'lvs-dr', tmp_path / 'other'
    for directory in (state, other):
        directory.mkdir()
        (directory / 'a').write_text(u'x')
        (directory / 'b').write_text(u'x')
    monkeypatch.setattr(_system, 'STATE_DIRS', (str(state),))
    system = _system.System(module=None)
    system.remove(str(state / 'a'))
    assert os.path.isdir(str(state))  # not empty yet
    system.remove(str(state / 'b'))
    system.remove(str(other / 'a'))
    system.remove(str(other / 'b'))
    system.remove(str(other / 'missing'))
    assert not state.exists() and other.is_dir()


def test_symlink_into_a_state_directory_that_does_not_exist_yet(tmp_path, monkeypatch):
    # Enabling a unit by a RequiredBy= link makes <unit>.requires, which goes again when emptied.
    requires = tmp_path / 'lvs-dr-vips.service.requires'
    monkeypatch.setattr(_system, 'STATE_DIRS', (str(requires),))
    system = _system.System(module=None)
    link = str(requires / 'lvs-dr-arptables.service')
    system.symlink('/etc/systemd/system/lvs-dr-arptables.service', link)
    system.symlink('/etc/systemd/system/lvs-dr-arptables.service', link)
    assert os.readlink(link) == '/etc/systemd/system/lvs-dr-arptables.service'
    system.remove(link)
    assert not requires.exists()


def test_lock_makes_a_second_run_wait_then_fail_naming_the_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(_system, 'LOCK_FILE', str(tmp_path / 'lvs-dr.lock'))
    monkeypatch.setattr(_system, 'LOCK_WAIT_S', 0.3)
    _system.System(module=None).lock()
    with pytest.raises(Refusal) as e:
        _system.System(module=None).lock()
    assert e.value.msg.startswith('Another lvs.dr run on this host has held %s' % (tmp_path / 'lvs-dr.lock'))


class Commands(object):
    """run_command of a host whose listing changes with every command that is not a listing."""

    def __init__(self):
        self.calls, self.generation = [], 0

    def run_command(self, argv, **kwargs):
        self.calls.append(argv)
        if argv[-1] != '-S':
            self.generation += 1
        return 0, 'generation %d' % self.generation, ''


def test_query_keeps_a_listing_until_the_next_run():
    module = Commands()
    system = _system.System(module)
    assert system.query(['iptables', '-S'])[1] == system.query(['iptables', '-S'])[1] == 'generation 0'
    assert len(module.calls) == 1
    system.run(['iptables', '-A', 'x'])
    assert system.query(['iptables', '-S'])[1] == 'generation 1'
    assert len(module.calls) == 3


def test_query_fails_on_an_error_only_when_asked_to():
    module = Commands()
    module.run_command = lambda argv, **kwargs: (2, '', 'no such table')
    system = _system.System(module)
    assert system.query(['iptables', '-S'], check=False)[0] == 2
    with pytest.raises(Refusal) as e:
        system.query(['iptables', '-S'])
    assert e.value.msg == 'Command failed: iptables -S: no such table'
    assert e.value.details == dict(cmd=['iptables', '-S'], rc=2, stdout='', stderr='no such table')


def test_write_keeps_nothing_but_the_file(tmp_path):
    class Mover(object):
        @staticmethod
        def atomic_move(src, dest):
            os.rename(src, dest)

    path = tmp_path / 'lvs-dr' / 'record'
    _system.System(Mover()).write(str(path), 'x\n', mode=0o600)
    assert path.read_text() == 'x\n' and oct(path.stat().st_mode & 0o777) == '0o600'
    assert os.listdir(str(tmp_path / 'lvs-dr')) == ['record']


def test_read_owned_refuses_a_file_without_the_mark(tmp_path):
    path = tmp_path / 'f'
    system = _system.System(module=None)
    assert _system.read_owned(system, str(path), lambda t: t.startswith('# mine'), 'me') is None
    path.write_text(u'# mine\n')
    assert _system.read_owned(system, str(path), lambda t: t.startswith('# mine'), 'me') == '# mine\n'
    path.write_text(u'root:x:0:0\n')
    with pytest.raises(Refusal, match='was not written by me; refusing to take it over'):
        _system.read_owned(system, str(path), lambda t: t.startswith('# mine'), 'me')
