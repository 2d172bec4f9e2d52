# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lvs.dr.plugins.module_utils._system import System
from ansible_collections.lvs.dr.plugins.module_utils import _suppress
from ansible_collections.lvs.dr.plugins.modules import lvs_arp_suppress as mod

V4 = '198.51.100.100'
V4B = '198.51.100.101'
REAL = '198.51.100.10'
CONF = '/proc/sys/net/ipv4/conf'
SYSCTL_FILE = '/etc/sysctl.d/90-lvs-dr-arp.conf'
RUN_FILE = '/run/lvs-dr/90-lvs-dr-arp.conf'
ARPT = '/usr/sbin/arptables'
IP = '/usr/sbin/ip'
BINARIES = {'arptables': ARPT, 'arptables-restore': '/usr/sbin/arptables-restore',
            'ip': IP}
OWNED_ETC = '/etc/lvs-dr/arptables-owned.json'
OWNED_RUN = '/run/lvs-dr/arptables-owned.json'
RULES_FILE = '/etc/lvs-dr/arptables.rules'
UNIT = '/etc/systemd/system/lvs-dr-arptables.service'
UNIT_LINK = '/etc/systemd/system/multi-user.target.wants/lvs-dr-arptables.service'
REQUIRES_LINK = '/etc/systemd/system/lvs-dr-vips.service.requires/lvs-dr-arptables.service'
RHEL_UNIT = '/usr/lib/systemd/system/arptables.service'


class FakeSystem(System):
    """The module's one seam over an in-memory host: files (with /proc/sys), symlinks, arptables, ip."""

    def lock(self):
        self.host.locked = True

    def __init__(self, module, host):
        super(FakeSystem, self).__init__(module)
        self.host = host
        module.get_bin_path = lambda name, required=False, opt_dirs=None: host.binaries.get(name)

    def _execute(self, argv, check, data):
        self.host.calls.append(list(argv))
        rc, out, err = self.host.command(list(argv))
        if check and rc != 0:
            self.module.fail_json(msg='Command failed: %s' % ' '.join(argv), rc=rc)
        return rc, out, err

    def read(self, path):
        return self.host.files.get(path)

    def exists(self, path):
        return path in self.host.files or path in self.host.links

    def listdir(self, path):
        prefix = path.rstrip('/') + '/'
        return sorted(set(p[len(prefix):].split('/')[0] for p in self.host.files if p.startswith(prefix)))

    def write(self, path, content, mode=0o644):
        self.host.log.append(('write', path))
        self.host.files[path] = content

    def remove(self, path):
        self.host.log.append(('remove', path))
        self.host.files.pop(path, None)
        self.host.links.pop(path, None)

    def set_proc(self, path, value):
        self.host.log.append(('set', path, value))
        self.host.files[path] = '%s\n' % value

    def symlink(self, target, path):
        self.host.log.append(('symlink', target, path))
        self.host.links[path] = target


class FakeHost(object):
    def __init__(self, interfaces=('lo', 'eth0', 'eth0.100'), chains=('INPUT', 'OUTPUT'), binaries=None,
                 rhel=False):
        self.files, self.links = {}, {}
        for name in ('all', 'default') + tuple(interfaces):
            self.files['%s/%s/arp_ignore' % (CONF, name)] = '0\n'
            self.files['%s/%s/arp_announce' % (CONF, name)] = '0\n'
        if rhel:
            self.files[RHEL_UNIT] = '[Service]\nType=oneshot\n\n[Install]\nWantedBy=basic.target\n'
        self.chains = chains
        self.binaries = dict(BINARIES if binaries is None else binaries)
        self.table = []
        self.addr = {'eth0': ['2: eth0    inet %s/24 brd 198.51.100.255 scope global eth0' % REAL,
                              '2: eth0    inet 198.51.100.20/24 scope global secondary eth0'],
                     'lo': ['1: lo    inet 127.0.0.1/8 scope host lo']}
        self.default_route = 'default via 198.51.100.1 dev eth0 proto static\n'
        self.calls, self.log = [], []

    def value(self, name, key):
        return int(self.files['%s/%s/%s' % (CONF, name, key)])

    def set(self, name, key, value):
        self.files['%s/%s/%s' % (CONF, name, key)] = '%d\n' % value

    def listing(self):
        out = []
        for chain in self.chains:
            out.append('Chain %s (policy ACCEPT)' % chain)
            out.extend(self.render(rule) for rule in self.table if rule['chain'] == chain)
            out.append('')
        return '\n'.join(out)

    @staticmethod
    def render(rule):
        # The nft build lists the target first, as arptables -L -n and arptables-save print it.
        words = ['-j', rule['-j']]
        for key in ('-d', '-s', '--mangle-ip-s'):
            if key in rule:
                words += [key, rule[key]]
        return ' '.join(words)

    def command(self, argv):
        tool = argv[0]
        if tool == ARPT:
            if argv[1:] == ['-L', '-n']:
                return 0, self.listing(), ''
            verb, chain, options = argv[1], argv[2], argv[3:]
            if verb == '-D' and len(options) == 1:  # by number within the chain
                del self.table[[i for i, r in enumerate(self.table) if r['chain'] == chain][int(options[0]) - 1]]
                return 0, '', ''
            if verb == '-I':
                position, options = int(options[0]), options[1:]
            rule = {'chain': chain}
            rule.update(zip(options[::2], options[1::2]))
            if verb == '-A':
                self.table.append(rule)
            elif verb == '-I':
                at = [i for i, r in enumerate(self.table) if r['chain'] == chain]
                self.table.insert(at[position - 1] if len(at) >= position else len(self.table), rule)
            else:
                self.table.remove(rule)
            return 0, '', ''
        if argv[1:] == ['-4', 'route', 'show', 'default']:
            return 0, self.default_route, ''
        if argv[1:5] == ['-o', '-4', 'addr', 'show']:
            return 0, '\n'.join(self.addr.get(argv[-1], [])) + '\n', ''
        raise AssertionError('unexpected command %r' % argv)

    def mutations(self):
        return [c for c in self.calls if c[0] == ARPT and c[1] in ('-A', '-I', '-D')]


def run_module(host, monkeypatch, capsys, check=False, **args):
    monkeypatch.setattr(mod, 'System', lambda module: FakeSystem(module, host))
    args['_ansible_check_mode'] = check
    args['_ansible_diff'] = True
    host.calls[:] = []
    host.log[:] = []
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mod.main()
    result = json.loads(capsys.readouterr().out)
    result.pop('invocation', None)
    return result


def snapshot(host):
    return dict(host.files), dict(host.links), list(host.table)


# --- sysctl -----------------------------------------------------------------------------------------

def test_sysctl_check_mode_touches_nothing_and_predicts(monkeypatch, capsys):
    host = FakeHost()
    before = snapshot(host)
    result = run_module(host, monkeypatch, capsys, check=True)
    assert result['changed'] is True and host.log == [] and snapshot(host) == before
    assert result['actions'] == ['set %s/all/arp_ignore to 1' % CONF, 'set %s/all/arp_announce to 2' % CONF,
                                 'write %s' % SYSCTL_FILE]
    assert result['effective']['eth0'] == {'arp_ignore': 1, 'arp_announce': 2}
    assert result['diff']['before']['values'] == {'all': {'arp_ignore': 0, 'arp_announce': 0}}
    assert result['diff']['after']['values'] == {'all': {'arp_ignore': 1, 'arp_announce': 2}}
    assert result['previous'] == {'all': {'arp_ignore': 0, 'arp_announce': 0}}


def test_sysctl_apply_then_idempotent(monkeypatch, capsys):
    host = FakeHost()
    host.set('eth0', 'arp_announce', 1)
    args = dict(interfaces=['eth0.100', 'all', 'eth0'], arp_ignore=2)
    result = run_module(host, monkeypatch, capsys, **args)
    assert result['changed'] is True
    assert host.log[:6] == [('set', '%s/eth0.100/arp_ignore' % CONF, 2), ('set', '%s/eth0.100/arp_announce' % CONF, 2),
                            ('set', '%s/all/arp_ignore' % CONF, 2), ('set', '%s/all/arp_announce' % CONF, 2),
                            ('set', '%s/eth0/arp_ignore' % CONF, 2), ('set', '%s/eth0/arp_announce' % CONF, 2)]
    text = host.files[SYSCTL_FILE]
    assert text.startswith(_suppress.MARKER + '\n')
    assert text.endswith('# previous net.ipv4.conf.all.arp_ignore = 0\n'
                         '# previous net.ipv4.conf.all.arp_announce = 0\n'
                         '# previous net.ipv4.conf.eth0.arp_ignore = 0\n'
                         '# previous net.ipv4.conf.eth0.arp_announce = 1\n'
                         '# previous net/ipv4/conf/eth0.100/arp_ignore = 0\n'
                         '# previous net/ipv4/conf/eth0.100/arp_announce = 0\n'
                         'net.ipv4.conf.all.arp_ignore = 2\n'
                         'net.ipv4.conf.all.arp_announce = 2\n'
                         'net.ipv4.conf.eth0.arp_ignore = 2\n'
                         'net.ipv4.conf.eth0.arp_announce = 2\n'
                         'net/ipv4/conf/eth0.100/arp_ignore = 2\n'
                         'net/ipv4/conf/eth0.100/arp_announce = 2\n')
    assert result['sysctl_file'] == SYSCTL_FILE
    assert result['previous']['eth0'] == {'arp_ignore': 0, 'arp_announce': 1}
    assert result['effective']['lo'] == {'arp_ignore': 2, 'arp_announce': 2}
    for check in (False, True):
        again = run_module(host, monkeypatch, capsys, check=check, **args)
        assert again['changed'] is False and again['actions'] == [] and host.log == []
        assert again['diff']['before'] == again['diff']['after'] == result['diff']['after']
        assert again['previous'] == result['previous']


def test_sysctl_absent_restores_only_values_still_ours(monkeypatch, capsys):
    host = FakeHost()
    host.set('all', 'arp_announce', 1)
    run_module(host, monkeypatch, capsys, interfaces=['all', 'eth0'])
    host.set('eth0', 'arp_ignore', 3)  # someone else changed it since: not ours any more

    check = run_module(host, monkeypatch, capsys, check=True, state='absent')
    assert check['changed'] is True and host.log == []

    result = run_module(host, monkeypatch, capsys, state='absent')
    assert host.log == [('set', '%s/all/arp_ignore' % CONF, 0), ('set', '%s/all/arp_announce' % CONF, 1),
                        ('set', '%s/eth0/arp_announce' % CONF, 0), ('remove', SYSCTL_FILE)]
    assert (host.value('all', 'arp_ignore'), host.value('all', 'arp_announce')) == (0, 1)
    assert host.value('eth0', 'arp_ignore') == 3
    assert SYSCTL_FILE not in host.files
    assert result['sysctl_file'] is None
    assert result['previous'] == {'all': {'arp_ignore': 0, 'arp_announce': 1}, 'eth0': {'arp_announce': 0}}

    again = run_module(host, monkeypatch, capsys, state='absent')
    assert again['changed'] is False and host.log == []


def test_sysctl_value_already_in_force_is_never_lifted(monkeypatch, capsys):
    host = FakeHost()
    host.set('all', 'arp_ignore', 1)
    host.set('all', 'arp_announce', 2)
    result = run_module(host, monkeypatch, capsys)
    assert host.log == [('write', SYSCTL_FILE)]
    assert result['previous'] == {'all': {'arp_ignore': 1, 'arp_announce': 2}}
    run_module(host, monkeypatch, capsys, state='absent')
    assert host.log == [('remove', SYSCTL_FILE)]
    assert (host.value('all', 'arp_ignore'), host.value('all', 'arp_announce')) == (1, 2)


def test_sysctl_scope_move_sets_new_before_lifting_old(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys)
    result = run_module(host, monkeypatch, capsys, interfaces=['eth0'])
    assert [entry[:2] for entry in host.log] == [
        ('set', '%s/eth0/arp_ignore' % CONF), ('set', '%s/eth0/arp_announce' % CONF),
        ('set', '%s/all/arp_ignore' % CONF), ('set', '%s/all/arp_announce' % CONF), ('write', SYSCTL_FILE)]
    assert result['actions'][2] == 'restore %s/all/arp_ignore to 0' % CONF
    assert result['previous'] == {'eth0': {'arp_ignore': 0, 'arp_announce': 0}}
    assert 'all' not in host.files[SYSCTL_FILE]


def test_sysctl_named_interfaces_without_default_warn_of_interfaces_created_later(monkeypatch, capsys):
    # A VLAN or bond created later starts with default's values and would answer ARP for the VIP.
    host, warnings = FakeHost(), []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    run_module(host, monkeypatch, capsys, interfaces=['eth0'])
    assert warnings == ['The sysctl scope names neither all nor default: an interface created later (a VLAN, a '
                        'bond, a bridge) gets arp_ignore=0 and arp_announce=0 and may answer or announce ARP for '
                        'the VIPs; add default to the scope, or use all.']
    for quiet in (['eth0', 'default'], ['all']):
        del warnings[:]
        run_module(host, monkeypatch, capsys, interfaces=quiet)
        assert warnings == []
    # all's values, set by someone else, cover a newcomer too: the larger of all's and its own applies.
    del warnings[:]
    run_module(host, monkeypatch, capsys, state='absent')
    host.files['%s/all/arp_ignore' % CONF], host.files['%s/all/arp_announce' % CONF] = '1\n', '2\n'
    run_module(host, monkeypatch, capsys, interfaces=['eth0'])
    assert warnings == []
    # Check mode warns as the real run does.
    host.files['%s/all/arp_ignore' % CONF], host.files['%s/all/arp_announce' % CONF] = '0\n', '0\n'
    run_module(host, monkeypatch, capsys, check=True, interfaces=['eth0.100'])
    assert len(warnings) == 1 and warnings[0].startswith('The sysctl scope names neither')


def test_sysctl_persist_false_keeps_the_record_in_run(monkeypatch, capsys):
    host = FakeHost()
    result = run_module(host, monkeypatch, capsys, persist=False)
    assert host.log[-1:] == [('write', RUN_FILE)] and SYSCTL_FILE not in host.files
    assert result['sysctl_file'] is None
    assert '# previous net.ipv4.conf.all.arp_ignore = 0' in host.files[RUN_FILE]
    again = run_module(host, monkeypatch, capsys, persist=False)
    assert again['changed'] is False
    run_module(host, monkeypatch, capsys, state='absent', persist=False)
    assert host.log[-1:] == [('remove', RUN_FILE)]
    assert host.value('all', 'arp_ignore') == 0 and RUN_FILE not in host.files


def test_sysctl_persist_false_leaves_the_boot_file_of_a_persistent_run(monkeypatch, capsys):
    # The VIPs' boot record stays with persist=false: removing the sysctl file alone would bring a
    # VIP back at boot without its suppression.
    host, warnings = FakeHost(), []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    run_module(host, monkeypatch, capsys)
    boot = host.files[SYSCTL_FILE]
    result = run_module(host, monkeypatch, capsys, persist=False)
    assert host.log == [('write', RUN_FILE)] and host.files[SYSCTL_FILE] == boot
    assert result['sysctl_file'] == SYSCTL_FILE and warnings == []
    run_module(host, monkeypatch, capsys, persist=False, interfaces=['eth0', 'default'])
    assert host.files[SYSCTL_FILE] == boot and 'eth0' in host.files[RUN_FILE]
    assert warnings == ['%s stays as it is (persist is false) and applies again at the next boot.' % SYSCTL_FILE]
    gone = run_module(host, monkeypatch, capsys, state='absent', persist=False)
    assert host.log[-1:] == [('remove', RUN_FILE)] and host.files[SYSCTL_FILE] == boot
    assert host.value('all', 'arp_ignore') == 0 and gone['sysctl_file'] == SYSCTL_FILE
    run_module(host, monkeypatch, capsys, state='absent')
    assert SYSCTL_FILE not in host.files


def test_sysctl_the_runtime_record_is_the_newer_one(monkeypatch, capsys):
    # Beside a boot file left by persist=false, the /run record says which live values are the module's.
    host = FakeHost()
    run_module(host, monkeypatch, capsys)
    run_module(host, monkeypatch, capsys, persist=False, arp_ignore=2)
    assert host.value('all', 'arp_ignore') == 2
    gone = run_module(host, monkeypatch, capsys, state='absent', persist=False)
    assert host.value('all', 'arp_ignore') == 0 and gone['previous']['all']['arp_ignore'] == 0
    assert RUN_FILE not in host.files and SYSCTL_FILE in host.files
    run_module(host, monkeypatch, capsys, state='absent')
    assert SYSCTL_FILE not in host.files and host.value('all', 'arp_ignore') == 0


def test_sysctl_refuses_a_file_it_did_not_write(monkeypatch, capsys):
    host = FakeHost()
    host.files[SYSCTL_FILE] = 'net.ipv4.ip_forward = 1\n'
    result = run_module(host, monkeypatch, capsys)
    assert result['failed'] is True and 'was not written by lvs.dr.lvs_arp_suppress' in result['msg']
    assert host.log == []


# --- arptables --------------------------------------------------------------------------------------

def drop(vip, chain='INPUT'):
    return [ARPT, '-A', chain, '-d', vip, '-j', 'DROP']


def mangle(vip, real=REAL, chain='OUTPUT'):
    return [ARPT, '-A', chain, '-s', vip, '-j', 'mangle', '--mangle-ip-s', real]


def deleted(argv):
    return argv[:1] + ['-D'] + argv[2:]


def inserted(argv):
    """The call that adds a rule: at the head of its chain (rules and results show the -A form)."""
    return argv[:1] + ['-I', argv[2], '1'] + argv[3:]


def test_arptables_check_mode_touches_nothing(monkeypatch, capsys):
    host = FakeHost()
    before = snapshot(host)
    result = run_module(host, monkeypatch, capsys, check=True, method='arptables', vip=[V4])
    assert result['changed'] is True and host.mutations() == [] and host.log == [] and snapshot(host) == before
    assert result['rules'] == [drop(V4)[1:], mangle(V4)[1:]]
    assert result['diff'] == {'before': {'rules': [], 'owned': []},
                              'after': {'rules': result['rules'], 'owned': result['rules'],
                                        'persist_file': RULES_FILE, 'unit': 'lvs-dr-arptables.service'}}


def test_arptables_debian_apply_then_idempotent(monkeypatch, capsys):
    host = FakeHost()
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert host.mutations() == [inserted(drop(V4)), inserted(mangle(V4))]
    assert host.calls[:3] == [[ARPT, '-L', '-n'], [IP, '-4', 'route', 'show', 'default'],
                              [IP, '-o', '-4', 'addr', 'show', 'dev', 'eth0']]
    assert result['real_ip'] == REAL and result['unit'] == 'lvs-dr-arptables.service'
    assert result['persist_file'] == RULES_FILE
    assert host.files[RULES_FILE] == ('*filter\n:INPUT ACCEPT\n:OUTPUT ACCEPT\n-A INPUT -j DROP -d %s\n'
                                      '-A OUTPUT -j mangle -s %s --mangle-ip-s %s\n' % (V4, V4, REAL))
    unit = host.files[UNIT]
    for line in ('DefaultDependencies=no', 'Wants=network-pre.target',
                 'Before=network-pre.target lvs-dr-vips.service shutdown.target',
                 'ExecStart=/usr/sbin/arptables-restore', 'StandardInput=file:%s' % RULES_FILE,
                 'AssertPathExists=%s' % RULES_FILE, 'WantedBy=multi-user.target', 'RequiredBy=lvs-dr-vips.service'):
        assert line + '\n' in unit
    # Required by the VIPs' unit: a failed restore at boot keeps the VIPs down.
    assert host.links == {UNIT_LINK: UNIT, REQUIRES_LINK: UNIT}
    assert json.loads(host.files[OWNED_ETC])['rules'] == [
        {'chain': 'INPUT', '-d': V4, '-j': 'DROP'},
        {'chain': 'OUTPUT', '-s': V4, '-j': 'mangle', '--mangle-ip-s': REAL}]
    for check in (False, True):
        again = run_module(host, monkeypatch, capsys, check=check, method='arptables', vip=[V4])
        assert again['changed'] is False and host.mutations() == [] and host.log == []
        assert again['rules'] == result['rules']


def test_arptables_jf_chain_names(monkeypatch, capsys):
    host = FakeHost(chains=('IN', 'OUT'))
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4], real_ip='198.51.100.30',
                        persist=False)
    assert host.mutations() == [inserted(drop(V4, 'IN')), inserted(mangle(V4, '198.51.100.30', 'OUT'))]
    assert result['persist_file'] is None and result['unit'] is None
    assert list(host.files) == [p for p in host.files if p.startswith('/proc/')] + [OWNED_RUN]


@pytest.mark.parametrize('interface, real', [('eth0', REAL), (None, REAL)])
def test_arptables_real_ip_skips_vips_and_secondaries(monkeypatch, capsys, interface, real):
    host = FakeHost()
    host.addr['eth0'].insert(0, '2: eth0    inet %s/32 scope global eth0' % V4)
    args = dict(method='arptables', vip=[V4], persist=False)
    if interface:
        args['interface'] = interface
    result = run_module(host, monkeypatch, capsys, **args)
    assert result['real_ip'] == real


def test_arptables_new_real_ip_replaces_the_stale_mangle_after(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4], real_ip='198.51.100.11')
    assert host.mutations() == [inserted(mangle(V4, '198.51.100.11')), deleted(mangle(V4))]
    assert result['rules'] == [drop(V4)[1:], mangle(V4, '198.51.100.11')[1:]]
    assert host.log[-2:] == [('write', RULES_FILE), ('write', OWNED_ETC)]


def test_arptables_absent_removes_only_its_own(monkeypatch, capsys):
    host = FakeHost()
    foreign = {'chain': 'INPUT', '-d': V4B, '-j': 'DROP'}
    host.table.append(foreign)
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4, V4B])
    # V4B's DROP was there: not ours.
    assert host.mutations() == [inserted(drop(V4)), inserted(mangle(V4)), inserted(mangle(V4B))]

    first = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4], state='absent')
    assert host.mutations() == [deleted(mangle(V4)), deleted(drop(V4))]
    assert first['rules'] == [] and first['unit'] == 'lvs-dr-arptables.service'
    assert host.log == [('write', RULES_FILE), ('write', OWNED_ETC)]

    check = run_module(host, monkeypatch, capsys, check=True, method='arptables', vip=[V4B], state='absent')
    assert check['changed'] is True and host.mutations() == [] and host.log == []

    last = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4B], state='absent')
    assert host.mutations() == [deleted(mangle(V4B))]
    assert host.table == [foreign]
    assert last['rules'] == [['-A', 'INPUT', '-d', V4B, '-j', 'DROP']]
    assert last['unit'] is None and last['persist_file'] is None
    assert host.log == [('remove', UNIT_LINK), ('remove', REQUIRES_LINK), ('remove', UNIT), ('remove', RULES_FILE),
                        ('remove', OWNED_ETC)]
    assert not any(p.startswith(('/etc', '/run')) for p in host.files) and host.links == {}

    again = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4B], state='absent')
    assert again['changed'] is False and host.mutations() == [] and host.log == []


def test_arptables_rules_behind_another_verdict_move_to_the_head(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    ours = list(host.table)
    other = {'chain': 'INPUT', '-d': V4B, '-j': 'ACCEPT'}  # another address: cannot match the VIP's ARP
    host.table.insert(0, other)
    saved = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert host.mutations() == [] and saved['actions'] == ['save the arptables table to %s' % RULES_FILE]
    accept = {'chain': 'INPUT', '-s': '198.51.100.50', '-j': 'ACCEPT'}  # another tool's, for one client
    host.table.insert(1, accept)
    check = run_module(host, monkeypatch, capsys, check=True, method='arptables', vip=[V4])
    assert check['changed'] is True and host.mutations() == []
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    # The copy at the head first, then the old one by its number: the VIP is never unguarded.
    assert host.mutations() == [inserted(drop(V4)), [ARPT, '-D', 'INPUT', '4']]
    assert host.table == [ours[0], other, accept, ours[1]]
    assert result['actions'][0] == 'move arptables rule INPUT -d %s -j DROP to the head of INPUT' % V4
    assert result['actions'][1] == 'save the arptables table to %s' % RULES_FILE
    assert run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])['changed'] is False


@pytest.mark.parametrize('rhel', [False, True])
def test_arptables_persist_false_leaves_the_boot_layer(monkeypatch, capsys, rhel):
    # Like the VIPs' boot record: the saved table comes back at boot with the VIPs it protects.
    host, warnings = FakeHost(rhel=rhel), []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    boot = snapshot(host)[:2]
    saved = '/etc/sysconfig/arptables' if rhel else RULES_FILE
    gone = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4], state='absent', persist=False)
    assert host.mutations() == [deleted(mangle(V4)), deleted(drop(V4))] and host.table == []
    assert snapshot(host)[:2] == boot and gone['persist_file'] == saved
    assert warnings == ['%s stays as it is (persist is false) and is restored at the next boot.' % saved]
    back = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4], persist=False)
    assert host.mutations() == [inserted(drop(V4)), inserted(mangle(V4))] and OWNED_RUN in host.files
    assert dict((p, t) for p, t in host.files.items() if p != OWNED_RUN) == boot[0] and back['changed'] is True
    run_module(host, monkeypatch, capsys, method='arptables', state='absent')
    assert not any(p.startswith(('/etc/lvs-dr', '/run/lvs-dr')) for p in host.files)
    assert (saved in host.files) is rhel  # RHEL's table file stays, without the module's rules


def test_arptables_a_foreign_rule_behind_another_verdict_stays_and_an_own_copy_goes_first(monkeypatch, capsys):
    host = FakeHost()
    accept = {'chain': 'INPUT', '-s': '198.51.100.50', '-j': 'ACCEPT'}
    foreign = {'chain': 'INPUT', '-d': V4, '-j': 'DROP'}  # the same rule, someone else's
    host.table[:] = [accept, foreign]
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert host.mutations() == [inserted(drop(V4)), inserted(mangle(V4))]
    assert host.table[:3] == [foreign, accept, foreign]
    assert run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])['changed'] is False
    run_module(host, monkeypatch, capsys, method='arptables', state='absent')
    assert host.mutations() == [deleted(mangle(V4)), deleted(drop(V4))] and host.table == [accept, foreign]


def test_arptables_a_chain_changed_during_the_move_fails_the_run(monkeypatch, capsys):
    class Busy(FakeHost):
        """Another tool puts an ACCEPT at the head right after the module's insert."""
        busy = False

        def command(self, argv):
            result = FakeHost.command(self, argv)
            if self.busy and argv[1] == '-I':
                self.table.insert(0, {'chain': 'INPUT', '-s': '198.51.100.51', '-j': 'ACCEPT'})
            return result

    host = Busy()
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4], persist=False)
    host.table.insert(0, {'chain': 'INPUT', '-s': '198.51.100.50', '-j': 'ACCEPT'})
    host.busy = True
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4], persist=False)
    assert result['failed'] is True and 'changed while the module moved' in result['msg']


def test_arptables_rhel_saves_sysconfig_and_enables_the_service(monkeypatch, capsys):
    host = FakeHost(rhel=True)
    link = '/etc/systemd/system/basic.target.wants/arptables.service'
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert result['persist_file'] == '/etc/sysconfig/arptables' and result['unit'] == 'arptables.service'
    assert host.links == {link: RHEL_UNIT}
    assert '-A INPUT -j DROP -d %s\n' % V4 in host.files['/etc/sysconfig/arptables']
    assert RULES_FILE not in host.files and UNIT not in host.files
    again = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert again['changed'] is False

    gone = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4], state='absent')
    assert host.files['/etc/sysconfig/arptables'] == '*filter\n:INPUT ACCEPT\n:OUTPUT ACCEPT\n'
    assert host.links == {} and gone['unit'] is None and gone['persist_file'] == '/etc/sysconfig/arptables'


def test_arptables_rhel_service_enabled_by_others_stays_enabled(monkeypatch, capsys):
    host = FakeHost(rhel=True)
    link = '/etc/systemd/system/basic.target.wants/arptables.service'
    host.links[link] = RHEL_UNIT
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4], state='absent')
    assert host.links == {link: RHEL_UNIT}


def test_arptables_absent_without_vip_removes_every_owned_rule(monkeypatch, capsys):
    host = FakeHost()
    foreign = {'chain': 'INPUT', '-d': '198.51.100.102', '-j': 'DROP'}
    host.table.append(foreign)
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4, V4B])

    check = run_module(host, monkeypatch, capsys, check=True, method='arptables', state='absent')
    assert check['changed'] is True and host.mutations() == [] and host.log == []
    assert check['diff']['after']['owned'] == [] and len(check['diff']['before']['owned']) == 4

    result = run_module(host, monkeypatch, capsys, method='arptables', state='absent')
    assert host.mutations() == [deleted(mangle(V4)), deleted(drop(V4)), deleted(mangle(V4B)), deleted(drop(V4B))]
    assert host.table == [foreign] and result['rules'] == []
    assert host.log == [('remove', UNIT_LINK), ('remove', REQUIRES_LINK), ('remove', UNIT), ('remove', RULES_FILE),
                        ('remove', OWNED_ETC)]
    for check in (False, True):
        again = run_module(host, monkeypatch, capsys, check=check, method='arptables', state='absent')
        assert again['changed'] is False and host.mutations() == [] and host.log == []


def test_arptables_absent_without_the_binary_is_a_no_op(monkeypatch, capsys):
    host = FakeHost(binaries={})
    for args in (dict(vip=[V4]), {}):
        result = run_module(host, monkeypatch, capsys, method='arptables', state='absent', **args)
        assert result['changed'] is False and host.calls == [] and host.log == []
        assert result['rules'] == [] and result['persist_file'] is None and result['unit'] is None


def test_arptables_absent_without_the_binary_still_cleans_its_leftovers(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    host.binaries = {}
    host.table = []
    check = run_module(host, monkeypatch, capsys, check=True, method='arptables', state='absent')
    assert check['changed'] is True and host.log == []
    result = run_module(host, monkeypatch, capsys, method='arptables', state='absent')
    assert host.calls == [] and result['unit'] is None and result['persist_file'] is None
    assert host.log == [('remove', UNIT_LINK), ('remove', REQUIRES_LINK), ('remove', UNIT), ('remove', RULES_FILE),
                        ('remove', OWNED_ETC)]
    assert run_module(host, monkeypatch, capsys, method='arptables', state='absent')['changed'] is False


# --- bad input --------------------------------------------------------------------------------------

BAD = [
    (dict(interfaces=['eth9']), 'interfaces: eth9 does not exist'),
    (dict(interfaces=[]), 'interfaces: give at least one entry'),
    (dict(method='arptables', vip=[]), 'vip: give at least one entry'),
    (dict(arp_ignore=3), 'value of arp_ignore must be one of: 1, 2, 8, got: 3'),
    (dict(arp_announce=0), 'value of arp_announce must be one of: 1, 2, got: 0'),
    (dict(vip=[V4]), 'vip: only with method=arptables, not with method=sysctl.'),
    (dict(method='arptables'), 'method is arptables and state is present but all of the following are missing: vip'),
    (dict(method='arptables', vip=[V4], interfaces=['all'], sysctl_file='/tmp/x'),
     'interfaces, sysctl_file: only with method=sysctl, not with method=arptables.'),
    (dict(method='arptables', vip=['2001:db8:0:1::100']), 'IPv6 has no ARP'),
    (dict(method='arptables', vip=['198.51.100.0/24']), 'give the VIP as ADDRESS or ADDRESS/32'),
    (dict(method='arptables', vip=['not-an-ip']), "'not-an-ip' is not a valid IPv4 or IPv6 address"),
    (dict(method='arptables', vip=[V4], real_ip='198.51.100.300'), "real_ip '198.51.100.300' is not an IPv4"),
    (dict(method='arptables', vip=[V4], real_ip=V4), 'not a VIP'),
    (dict(method='arptables', vip=[V4], real_ip='2001:db8::1'), 'is not an IPv4 address'),
    (dict(method='arptables', vip=[V4], interface='eth9'), 'interface eth9 does not exist.'),
    (dict(method='arptables', vip=[V4], interface='lo'), 'interface lo has no primary unicast IPv4 address'),
    (dict(method='arptables', vip=[V4], interface='eth0', real_ip=REAL),
     'parameters are mutually exclusive: real_ip|interface'),
]


@pytest.mark.parametrize('args, message', BAD)
def test_bad_input_fails_before_any_change(monkeypatch, capsys, args, message):
    host = FakeHost()
    before = snapshot(host)
    result = run_module(host, monkeypatch, capsys, **args)
    assert result['failed'] is True and message in result['msg']
    assert host.log == [] and host.mutations() == [] and snapshot(host) == before


def test_no_default_route(monkeypatch, capsys):
    host = FakeHost()
    host.default_route = ''
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert result['failed'] is True and 'No IPv4 default route' in result['msg'] and host.log == []


@pytest.mark.parametrize('missing', ['arptables', 'arptables-restore', 'ip'])
def test_missing_binary_is_named(monkeypatch, capsys, missing):
    host = FakeHost(binaries=dict((k, v) for k, v in BINARIES.items() if k != missing))
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert result['failed'] is True and 'The %s binary was not found' % missing in result['msg']
    assert host.log == [] and host.mutations() == []


def test_docs_agree_with_defaults():
    assert os.path.basename(_suppress.SYSCTL_DEFAULTS['sysctl_file']) in mod.DOCUMENTATION
    assert sorted(_suppress.METHOD_OPTIONS['sysctl'] + _suppress.METHOD_OPTIONS['arptables']) == [
        'arp_announce', 'arp_ignore', 'interface', 'interfaces', 'real_ip', 'sysctl_file', 'vip']
