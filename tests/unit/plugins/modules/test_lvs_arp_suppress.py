# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json
import os
import socket
import struct

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lvs.dr.plugins.module_utils._netlink import RTA_OIF, RTA_PRIORITY, RTM_GETROUTE, RTMSG, Netlink
from ansible_collections.lvs.dr.plugins.module_utils._plan import Plan, Refusal
from ansible_collections.lvs.dr.plugins.module_utils._system import System
from ansible_collections.lvs.dr.plugins.module_utils import _suppress
from ansible_collections.lvs.dr.plugins.modules import lvs_arp_suppress as mod

V4 = '198.51.100.100'
V4B = '198.51.100.101'
REAL = '198.51.100.10'
GATEWAY = '198.51.100.1'
CONF = '/proc/sys/net/ipv4/conf'
SYSCTL_FILE = '/etc/sysctl.d/90-lvs-dr-arp.conf'
RUN_FILE = '/run/lvs-dr/90-lvs-dr-arp.conf'
ARPT = '/usr/sbin/arptables'
BINARIES = {'arptables': ARPT, 'arptables-restore': '/usr/sbin/arptables-restore'}
OWNED_ETC = '/etc/lvs-dr/arptables-owned.json'
OWNED_RUN = '/run/lvs-dr/arptables-owned.json'
RULES_FILE = '/etc/lvs-dr/arptables.rules'
UNIT = '/etc/systemd/system/lvs-dr-arptables.service'
UNIT_LINK = '/etc/systemd/system/multi-user.target.wants/lvs-dr-arptables.service'
REQUIRES_LINK = '/etc/systemd/system/lvs-dr-vips.service.requires/lvs-dr-arptables.service'
RHEL_UNIT = '/usr/lib/systemd/system/arptables.service'
RHEL_FILE = '/etc/sysconfig/arptables'
VIP_RECORD = '/run/lvs-dr/vips'


class FakeSystem(System):
    """The module's one seam over an in-memory host: files (with /proc/sys), symlinks, arptables."""

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
            self._fail(argv, rc, out, err)
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


class FakeNetlink(object):
    """The netlink reads the engines make: links, addresses (in the kernel's order), IPv4 routes."""

    def __init__(self, host):
        self.host = host

    def link_names(self):
        return dict((index, name) for name, index in self.host.indexes.items())

    def link_index(self, name):
        return self.host.indexes.get(name)

    def addresses(self):
        return [{'index': self.host.indexes[name], 'label': label, 'address': ipaddress.ip_interface(address)}
                for name, address, label in self.host.addresses]

    def routed_indexes(self):
        return set(index for index, dummy, dummy2 in self.host.routes)

    # The real reader over the fake dump below.
    default_route_indexes = Netlink.default_route_indexes

    def _dump(self, request, query, reply, header):
        assert request == RTM_GETROUTE and header is RTMSG
        for index, metric, table in self.host.routes:
            if metric is not None:  # a default route; None: a subnet's
                yield ((socket.AF_INET, 0, 0, 0, table, 3, 0, 1, 0),
                       {RTA_OIF: struct.pack('=I', index), RTA_PRIORITY: struct.pack('=I', metric)})
            else:
                yield ((socket.AF_INET, 24, 0, 0, table, 2, 253, 1, 0), {RTA_OIF: struct.pack('=I', index)})


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
        self.indexes = dict((name, i + 1) for i, name in enumerate(interfaces))
        # (interface, address, label) in the kernel's order: primaries before secondaries.
        self.addresses = [('lo', '127.0.0.1/8', 'lo'), ('eth0', '%s/24' % REAL, 'eth0'),
                          ('eth0', '198.51.100.20/24', 'eth0')]
        # (index, metric of a default route or None, table)
        self.routes = [(2, 0, 254), (2, None, 254)]
        self.calls, self.log = [], []

    def value(self, name, key):
        return int(self.files['%s/%s/%s' % (CONF, name, key)])

    def set(self, name, key, value):
        self.files['%s/%s/%s' % (CONF, name, key)] = '%d\n' % value

    def hold_vip(self, vip=V4, interface='lo'):
        """A VIP as lvs_vip holds it: labelled <interface>:lvs."""
        self.addresses.append((interface, '%s/32' % vip, '%s:lvs' % interface))

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
        raise AssertionError('unexpected command %r' % argv)

    def mutations(self):
        return [c for c in self.calls if c[0] == ARPT and c[1] in ('-A', '-I', '-D')]


def run_module(host, monkeypatch, capsys, check=False, **args):
    monkeypatch.setattr(mod, 'System', lambda module: FakeSystem(module, host))
    monkeypatch.setattr(_suppress, 'Netlink', lambda: FakeNetlink(host))
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


def record_warnings(monkeypatch):
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    return warnings


# --- sysctl -----------------------------------------------------------------------------------------

def test_sysctl_check_mode_touches_nothing_and_predicts(monkeypatch, capsys):
    host = FakeHost()
    before = snapshot(host)
    result = run_module(host, monkeypatch, capsys, check=True)
    assert result['changed'] is True and host.log == [] and snapshot(host) == before
    # The record (the file, with the values found) before the values it records are set.
    assert result['actions'] == ['write %s' % SYSCTL_FILE, 'set %s/all/arp_ignore to 1' % CONF,
                                 'set %s/all/arp_announce to 2' % CONF]
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
    assert host.log[0] == ('write', SYSCTL_FILE)
    assert host.log[1:7] == [
        ('set', '%s/eth0.100/arp_ignore' % CONF, 2), ('set', '%s/eth0.100/arp_announce' % CONF, 2),
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
    # Recorded with both scopes first; all is forgotten once it is restored.
    assert [entry[:2] for entry in host.log] == [
        ('write', SYSCTL_FILE), ('set', '%s/eth0/arp_ignore' % CONF), ('set', '%s/eth0/arp_announce' % CONF),
        ('set', '%s/all/arp_ignore' % CONF), ('set', '%s/all/arp_announce' % CONF), ('write', SYSCTL_FILE)]
    assert result['actions'][3] == 'restore %s/all/arp_ignore to 0' % CONF
    assert result['previous'] == {'eth0': {'arp_ignore': 0, 'arp_announce': 0}}
    assert 'all' not in host.files[SYSCTL_FILE]


def test_sysctl_named_interfaces_without_default_warn_of_interfaces_created_later(monkeypatch, capsys):
    # A VLAN or bond created later starts with default's values and would answer ARP for the VIP.
    host, warnings = FakeHost(interfaces=('lo', 'eth0')), record_warnings(monkeypatch)
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
    run_module(host, monkeypatch, capsys, check=True, interfaces=['lo'])
    assert len(warnings) == 2 and warnings[0].startswith('The sysctl scope names neither')


def test_sysctl_persist_false_keeps_the_record_in_run(monkeypatch, capsys):
    host = FakeHost()
    result = run_module(host, monkeypatch, capsys, persist=False)
    assert host.log[0] == ('write', RUN_FILE) and len(host.log) == 3 and SYSCTL_FILE not in host.files
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
    host, warnings = FakeHost(interfaces=('lo', 'eth0')), record_warnings(monkeypatch)
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
    # The real IP from the default route's interface, read by netlink: no other command.
    assert host.calls[:1] == [[ARPT, '-L', '-n']] and not [c for c in host.calls if c[0] != ARPT]
    # The record names the rules before they are added; nothing else is left to record after.
    assert host.log[0] == ('write', OWNED_ETC) and host.log.count(('write', OWNED_ETC)) == 1
    assert result['real_ip'] == REAL and result['unit'] == 'lvs-dr-arptables.service'
    assert result['persist_file'] == RULES_FILE
    assert host.files[RULES_FILE] == (_suppress.MARKER + '\n*filter\n:INPUT ACCEPT\n:OUTPUT ACCEPT\n'
                                      '-A INPUT -j DROP -d %s\n-A OUTPUT -j mangle -s %s --mangle-ip-s %s\n'
                                      % (V4, V4, REAL))
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
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4], real_ip='198.51.100.20',
                        persist=False)
    assert host.mutations() == [inserted(drop(V4, 'IN')), inserted(mangle(V4, '198.51.100.20', 'OUT'))]
    assert result['persist_file'] is None and result['unit'] is None
    assert list(host.files) == [p for p in host.files if p.startswith('/proc/')] + [OWNED_RUN]


@pytest.mark.parametrize('interface, real', [('eth0', REAL), (None, REAL)])
def test_arptables_real_ip_skips_vips_and_secondaries(monkeypatch, capsys, interface, real):
    host = FakeHost()
    host.addresses.insert(1, ('eth0', '%s/32' % V4, 'eth0:lvs'))  # the VIP on eth0, as lvs_vip holds it there
    args = dict(method='arptables', vip=[V4], persist=False)
    if interface:
        args['interface'] = interface
    result = run_module(host, monkeypatch, capsys, **args)
    assert result['real_ip'] == real


def test_arptables_new_real_ip_replaces_the_stale_mangle_after(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    host.addresses.append(('eth0', '198.51.100.11/24', 'eth0'))
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
    # Another tool's rule changes nothing of the module's: the saved file holds the module's rules only.
    saved = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert host.mutations() == [] and saved['changed'] is False
    accept = {'chain': 'INPUT', '-s': '198.51.100.50', '-j': 'ACCEPT'}  # another tool's, for one client
    host.table.insert(1, accept)
    check = run_module(host, monkeypatch, capsys, check=True, method='arptables', vip=[V4])
    assert check['changed'] is True and host.mutations() == []
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    # The copy at the head first, then the old one by its number: the VIP is never unguarded.
    assert host.mutations() == [inserted(drop(V4)), [ARPT, '-D', 'INPUT', '4']]
    assert host.table == [ours[0], other, accept, ours[1]]
    assert result['actions'] == ['move arptables rule INPUT -d %s -j DROP to the head of INPUT' % V4]
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
    (dict(interfaces=['../../../vm']), "interfaces '../../../vm' is not a valid interface name"),
    (dict(interfaces=[]), 'interfaces is an empty list'),  # was 'interfaces: give at least one entry'
    (dict(method='arptables', vip=[]), 'vip is an empty list'),  # was 'vip: give at least one entry'
    (dict(method='arptables', state='absent', vip=[]), 'vip is an empty list'),
    (dict(arp_ignore=3), 'value of arp_ignore must be one of: 1, 2, 8, got: 3'),
    (dict(arp_announce=0), 'value of arp_announce must be one of: 1, 2, got: 0'),
    (dict(vip=[V4]), 'vip: only with method=arptables, not with method=sysctl.'),
    (dict(method='arptables'), 'method is arptables and state is present but all of the following are missing: vip'),
    (dict(method='arptables', vip=[V4], interfaces=['all'], sysctl_file='/tmp/x'),
     'interfaces, sysctl_file: only with method=sysctl, not with method=arptables.'),
    (dict(method='arptables', state='absent', real_ip=REAL), "missing parameter(s) required by 'real_ip': vip"),
    (dict(method='arptables', vip=['2001:db8:0:1::100']), 'IPv6 has no ARP'),
    (dict(method='arptables', vip=['198.51.100.100/24']), 'give the VIP as ADDRESS or ADDRESS/32'),
    (dict(method='arptables', vip=['not-an-ip']), "'not-an-ip' is not a valid IPv4 or IPv6 address"),
    (dict(method='arptables', vip=['255.255.255.255']), 'is not usable as a virtual IP'),
    # was "real_ip '198.51.100.300' is not an IPv4" (parse_unicast's wording now)
    (dict(method='arptables', vip=[V4], real_ip='198.51.100.300'), "real_ip '198.51.100.300' is not a valid IPv4"),
    (dict(method='arptables', vip=[V4], real_ip=V4), "must be the real server's own unicast address"),
    (dict(method='arptables', vip=[V4], real_ip='2001:db8::1'), 'is not an IPv4 address'),
    (dict(method='arptables', vip=[V4], real_ip='169.254.0.1'), 'it is a link-local address'),
    (dict(method='arptables', vip=[V4], real_ip='0.1.2.3'), 'it is unspecified'),
    # item 6: an address this host does not hold (the gateway's) would poison the segment's caches
    (dict(method='arptables', vip=[V4], real_ip=GATEWAY), 'is not an IPv4 address this host holds'),
    # the host's own real IP as a "VIP": its DROP rule would cut the host off
    (dict(method='arptables', vip=[REAL]), 'is an address this host holds on eth0 that lvs.dr.lvs_vip did not add'),
    (dict(method='arptables', vip=[V4], interface='eth9'), 'interface eth9 does not exist.'),
    (dict(method='arptables', vip=[V4], interface='eth0/x'), "interface 'eth0/x' is not a valid interface name"),
    (dict(method='arptables', vip=[V4], interface='lo'), 'interface lo has no primary unicast IPv4 address'),
    (dict(method='arptables', vip=[V4], interface='eth0', real_ip=REAL),
     'parameters are mutually exclusive: real_ip|interface'),
    # item 2: arp_ignore 8 where the host needs to answer ARP
    (dict(arp_ignore=8), 'arp_ignore 8 (never reply) on all (every interface, now and later)'),
    (dict(arp_ignore=8, interfaces=['default']), 'on default (every interface created later)'),
    (dict(arp_ignore=8, interfaces=['eth0']), 'on eth0 (holds %s/24, 198.51.100.20/24)' % REAL),
    (dict(arp_ignore=8, interfaces=['lo']), 'on lo (holds 127.0.0.1/8)'),
    # item 3: a sysctl file systemd-sysctl reads, written so a unit reads it the same
    (dict(sysctl_file='/etc/sysctl.d/90-lvs-dr-arp'), 'does not end in .conf'),
    (dict(sysctl_file='/etc/lvs-dr/arp.conf'), 'is not in a directory its reader reads'),
    (dict(sysctl_file='/etc/sysctl.conf'), 'is not in a directory its reader reads'),
    (dict(sysctl_file='/etc/sysctl.d/../fstab.conf'), 'must be absolute and normalised'),
    (dict(sysctl_file='/etc/sysctl.d/9 lvs.conf'), 'no white space'),
    (dict(sysctl_file='/etc/sysctl.d/9%n.conf'), 'no white space'),
    (dict(state='absent', sysctl_file='/etc/sysctl.d/x\nExecStartPre=/bin/sh.conf'), 'no white space'),
]


@pytest.mark.parametrize('args, message', BAD)
def test_bad_input_fails_before_any_change(monkeypatch, capsys, args, message):
    host = FakeHost()
    before = snapshot(host)
    result = run_module(host, monkeypatch, capsys, **args)
    assert result['failed'] is True and message in result['msg'], result['msg']
    assert host.log == [] and host.mutations() == [] and snapshot(host) == before


def test_no_default_route(monkeypatch, capsys):
    host = FakeHost()
    host.routes = [(2, None, 254), (2, 0, 100)]  # a subnet's route, and a default route of another table only
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert result['failed'] is True and 'No IPv4 default route' in result['msg'] and host.log == []


def test_the_default_route_with_the_lowest_metric_names_the_interface(monkeypatch, capsys):
    host = FakeHost(interfaces=('lo', 'eth0', 'eth1'))
    host.addresses.append(('eth1', '192.0.2.10/24', 'eth1'))
    host.routes = [(2, 200, 254), (3, 100, 254)]
    result = run_module(host, monkeypatch, capsys, check=True, method='arptables', vip=[V4])
    assert result['real_ip'] == '192.0.2.10'


@pytest.mark.parametrize('missing', ['arptables', 'arptables-restore'])
def test_missing_binary_is_named(monkeypatch, capsys, missing):
    # iproute2 is no longer needed: the real IP is read by netlink.
    host = FakeHost(binaries=dict((k, v) for k, v in BINARIES.items() if k != missing))
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert result['failed'] is True and 'The %s binary was not found' % missing in result['msg']
    assert host.log == [] and host.mutations() == []


def test_arp_ignore_8_only_where_no_ipv4_address_or_route_needs_a_reply(monkeypatch, capsys):
    host = FakeHost(interfaces=('lo', 'eth0', 'dummy0', 'tun0'))
    host.routes.append((host.indexes['tun0'], None, 100))  # routed (policy routing's table too), no address
    before = snapshot(host)
    refused = run_module(host, monkeypatch, capsys, arp_ignore=8, interfaces=['tun0', 'dummy0'])
    assert refused['failed'] is True and 'on tun0 (IPv4 routes lead out of it)' in refused['msg']
    assert 'dummy0' not in refused['msg'] and 'Use arp_ignore 1 or 2' in refused['msg']
    assert snapshot(host) == before and host.log == []
    accepted = run_module(host, monkeypatch, capsys, arp_ignore=8, interfaces=['all', 'dummy0'], check=True)
    assert accepted['failed'] is True and 'on all' in accepted['msg']
    result = run_module(host, monkeypatch, capsys, arp_ignore=8, interfaces=['dummy0'])
    assert result['changed'] is True and host.value('dummy0', 'arp_ignore') == 8


def test_a_sysctl_file_masked_by_an_earlier_directory_is_refused(monkeypatch, capsys):
    host = FakeHost()
    host.files['/etc/sysctl.d/90-lvs-dr-arp.conf'] = 'net.ipv4.ip_forward = 1\n'
    before = snapshot(host)
    result = run_module(host, monkeypatch, capsys, sysctl_file='/usr/lib/sysctl.d/90-lvs-dr-arp.conf')
    assert result['failed'] is True and 'is masked by /etc/sysctl.d/90-lvs-dr-arp.conf' in result['msg']
    assert snapshot(host) == before and host.log == []
    # /lib/sysctl.d beside /usr/lib/sysctl.d is one directory on a merged-/usr host, not a mask.
    host.files['/usr/lib/sysctl.d/91-lvs.conf'] = _suppress.render_sysctl({})
    run_module(host, monkeypatch, capsys, sysctl_file='/lib/sysctl.d/91-lvs.conf', persist=True)
    assert '/lib/sysctl.d/91-lvs.conf' in host.files


def test_absent_takes_a_sysctl_file_an_earlier_release_wrote_anywhere(monkeypatch, capsys):
    host = FakeHost()
    old = '/etc/lvs-dr/arp.conf'
    host.files[old] = _suppress.render_sysctl({('all', 'arp_ignore'): (0, 1), ('all', 'arp_announce'): (0, 2)})
    host.set('all', 'arp_ignore', 1)
    host.set('all', 'arp_announce', 2)
    run_module(host, monkeypatch, capsys, state='absent', sysctl_file=old)
    assert old not in host.files and host.value('all', 'arp_ignore') == 0


def test_a_record_naming_a_value_the_kernel_refuses_is_not_restored(monkeypatch, capsys):
    host = FakeHost()
    host.files[SYSCTL_FILE] = _suppress.render_sysctl({('all', 'arp_ignore'): (0, 1)}).replace(
        'previous net.ipv4.conf.all.arp_ignore = 0', 'previous net.ipv4.conf.all.arp_ignore = 9')
    host.set('all', 'arp_ignore', 1)
    before = snapshot(host)
    result = run_module(host, monkeypatch, capsys, state='absent')
    assert result['failed'] is True and 'cannot read the line' in result['msg'] and snapshot(host) == before


# --- VIPs held: no plan may leave them answering ARP (issue 14 items 4 and 9) ----------------------

@pytest.mark.parametrize('args, phrase', [
    (dict(state='absent'), 'state absent would leave ARP unsuppressed for VIPs that lvs.dr.lvs_vip holds'),
    (dict(arp_announce=1), 'interfaces all with arp_ignore 1 and arp_announce 1 would leave ARP unsuppressed'),
    (dict(interfaces=['eth0']), 'on eth0.100 (effective arp_ignore=0, arp_announce=0)'),
    (dict(interfaces=['lo']), 'unsuppressed on eth0 (effective arp_ignore=0, arp_announce=0), eth0.100'),
])
def test_sysctl_refuses_to_leave_a_held_vip_answering_arp(monkeypatch, capsys, args, phrase):
    host = FakeHost()
    run_module(host, monkeypatch, capsys)
    host.hold_vip()
    before = snapshot(host)
    for check in (True, False):
        result = run_module(host, monkeypatch, capsys, check=check, **args)
        assert result['failed'] is True and phrase in result['msg'], result['msg']
        assert '%s on lo' % V4 in result['msg'] and 'take the site from the director' in result['msg']
        assert 'Nothing was changed' in result['msg']
        assert snapshot(host) == before and host.log == []
    if 'state' in args:
        assert 'Remove the VIPs first (lvs.dr.lvs_vip state=absent' in result['msg']
    else:
        assert 'Keep arp_announce 2 and arp_ignore 1 or 2 on every interface facing the segment' in result['msg']


def test_sysctl_present_that_does_not_suppress_only_warns_while_no_vip_is_held(monkeypatch, capsys):
    host, warnings = FakeHost(), record_warnings(monkeypatch)
    result = run_module(host, monkeypatch, capsys, arp_announce=1)
    assert result['changed'] is True and host.value('all', 'arp_announce') == 1
    assert warnings == ['interfaces all with arp_ignore 1 and arp_announce 1 leave ARP unsuppressed on eth0 (effective '
                        'arp_ignore=1, arp_announce=1), eth0.100 (effective arp_ignore=1, arp_announce=1): '
                        'lvs.dr.lvs_vip will refuse to add an IPv4 VIP on lo while that lasts. Keep arp_announce 2 '
                        'and arp_ignore 1 or 2 on every interface facing the segment (interfaces: [all], or name '
                        'each).']


def test_a_vip_recorded_by_lvs_vip_counts_as_held(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys)
    host.addresses.append(('lo', '%s/32' % V4, 'lo'))  # no label: the runtime record names it
    host.files[VIP_RECORD] = 'address replace %s/32 dev lo\n' % V4
    result = run_module(host, monkeypatch, capsys, state='absent')
    assert result['failed'] is True and V4 in result['msg'] and host.log == []
    del host.files[VIP_RECORD]  # an address lvs_vip does not hold is not its business
    assert run_module(host, monkeypatch, capsys, state='absent')['changed'] is True


def test_sysctl_lifts_suppression_where_arptables_rules_protect_the_vips(monkeypatch, capsys):
    # The method switch sysctl -> arptables: with the rules in force the sysctl values may go.
    host = FakeHost()
    run_module(host, monkeypatch, capsys)
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    host.hold_vip()
    result = run_module(host, monkeypatch, capsys, state='absent')
    assert result['changed'] is True and host.value('all', 'arp_ignore') == 0


def test_a_removal_that_leaves_protection_as_it_was_passes(monkeypatch, capsys):
    # all stays suppressing (set by someone else before the module): lifting the module's eth0 values is safe.
    host = FakeHost()
    run_module(host, monkeypatch, capsys, interfaces=['eth0', 'eth0.100', 'default'])
    host.set('all', 'arp_ignore', 1)
    host.set('all', 'arp_announce', 2)
    host.hold_vip()
    assert run_module(host, monkeypatch, capsys, state='absent')['changed'] is True


@pytest.mark.parametrize('args, phrase', [
    (dict(state='absent'), 'state absent without vip (every rule the module owns) would remove the arptables rules'),
    (dict(state='absent', vip=[V4]), 'state absent for vip %s would remove' % V4),
])
def test_arptables_refuses_to_remove_the_rules_of_a_held_vip(monkeypatch, capsys, args, phrase):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4, V4B])
    host.hold_vip(V4, 'eth0')
    before = snapshot(host)
    for check in (True, False):
        result = run_module(host, monkeypatch, capsys, check=check, method='arptables', **args)
        assert result['failed'] is True and phrase in result['msg'], result['msg']
        assert ('%s on eth0: unsuppressed on eth0 (holds the VIP itself' % V4) in result['msg']
        assert V4B not in result['msg'] and 'Remove the VIPs first' in result['msg']
        assert snapshot(host) == before and host.log == [] and host.mutations() == []
    # The rules of a VIP that is not held go.
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4B], state='absent')
    assert host.mutations() == [deleted(mangle(V4B)), deleted(drop(V4B))]


def test_arptables_rules_may_go_where_sysctl_protects_a_vip_on_lo(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    host.hold_vip()
    assert run_module(host, monkeypatch, capsys, method='arptables', state='absent')['failed'] is True
    run_module(host, monkeypatch, capsys)
    assert run_module(host, monkeypatch, capsys, method='arptables', state='absent')['changed'] is True


def engine_plan(engine):
    engine.validate()
    plan = Plan(False)
    engine.run(plan)
    return plan


class Seam(FakeSystem):
    """FakeSystem without an AnsibleModule, for the engines alone (as lvs_realserver drives them)."""

    def __init__(self, host):  # pylint: disable=super-init-not-called
        self.host = host
        self._listings = {}

    def binary(self, name, required=True):
        return self.host.binaries.get(name)


def test_vips_planned_gone_skips_the_refusal():
    # lvs_realserver in check mode: its VIP step has only planned the removal the real run makes first.
    host = FakeHost()
    host.hold_vip()
    host.set('all', 'arp_ignore', 1)
    host.set('all', 'arp_announce', 2)
    host.files[SYSCTL_FILE] = _suppress.render_sysctl({('all', 'arp_ignore'): (0, 1), ('all', 'arp_announce'): (0, 2)})
    params = dict(_suppress.SYSCTL_DEFAULTS, state='absent', persist=True, vip=None, real_ip=None, interface=None)
    with pytest.raises(Refusal):
        engine_plan(_suppress.SysctlEngine(Seam(host), params, True, FakeNetlink(host)))
    engine = _suppress.SysctlEngine(Seam(host), params, True, FakeNetlink(host), vips_planned_gone=True)
    assert engine_plan(engine).changed and engine.warnings == []
    arptables = _suppress.ArptablesEngine(Seam(host), params, True, FakeNetlink(host), vips_planned_gone=True)
    assert not engine_plan(arptables).changed


# --- records before the change they record, saved files with only the module's lines ---------------

def test_arptables_record_names_a_rule_before_it_is_added_and_forgets_it_after_it_is_deleted(monkeypatch, capsys):
    host = FakeHost()
    seen = []
    original = host.command

    def command(argv):
        if argv[1] in ('-I', '-D'):
            seen.append((argv[1], json.loads(host.files[OWNED_ETC])['rules']))
        return original(argv)

    host.command = command
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert [len(rules) for verb, rules in seen] == [2, 2]
    del seen[:]
    run_module(host, monkeypatch, capsys, method='arptables', state='absent')
    assert [len(rules) for verb, rules in seen] == [2, 2] and OWNED_ETC not in host.files


def test_rhel_saved_table_keeps_every_line_but_the_modules(monkeypatch, capsys):
    # Lines the administrator saved but did not load, and comments, stay; another tool's live rule is not saved.
    host = FakeHost(rhel=True)
    admin = ('# saved by the administrator\n*filter\n:INPUT ACCEPT\n:OUTPUT ACCEPT\n'
             '-A INPUT -j ACCEPT -s 198.51.100.60\n-A OUTPUT -j DROP -d 198.51.100.61\n')
    host.files[RHEL_FILE] = admin
    host.table.append({'chain': 'INPUT', '-s': '198.51.100.70', '-j': 'DROP'})  # transient, another tool's
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert host.files[RHEL_FILE] == (
        '# saved by the administrator\n*filter\n:INPUT ACCEPT\n:OUTPUT ACCEPT\n'
        '-A INPUT -j DROP -d %s\n-A INPUT -j ACCEPT -s 198.51.100.60\n'
        '-A OUTPUT -j mangle -s %s --mangle-ip-s %s\n-A OUTPUT -j DROP -d 198.51.100.61\n' % (V4, V4, REAL))
    assert '198.51.100.70' not in host.files[RHEL_FILE]
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4B])
    assert host.files[RHEL_FILE].count('-A INPUT -j DROP -d') == 2
    run_module(host, monkeypatch, capsys, method='arptables', state='absent')
    assert host.files[RHEL_FILE] == admin


def test_debian_saved_table_holds_only_the_modules_rules(monkeypatch, capsys):
    host = FakeHost()
    host.table.append({'chain': 'INPUT', '-s': '198.51.100.70', '-j': 'DROP'})
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert '198.51.100.70' not in host.files[RULES_FILE]


def test_debian_saved_table_of_an_earlier_release_is_taken_over_but_a_foreign_one_is_not(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    host.files[RULES_FILE] = '*filter\n:INPUT ACCEPT\n:OUTPUT ACCEPT\n-A INPUT -j ACCEPT -s 198.51.100.70\n'
    result = run_module(host, monkeypatch, capsys, method='arptables', vip=[V4])
    assert result['changed'] is True and host.files[RULES_FILE].startswith(_suppress.MARKER)
    assert '198.51.100.70' not in host.files[RULES_FILE]
    other = FakeHost()
    other.files[RULES_FILE] = '*filter\n'  # no record of the module: someone else's file
    result = run_module(other, monkeypatch, capsys, method='arptables', vip=[V4])
    assert result['failed'] is True and 'was not written by lvs.dr.lvs_arp_suppress' in result['msg']
    assert other.mutations() == []


def test_docs_agree_with_defaults():
    assert os.path.basename(_suppress.SYSCTL_DEFAULTS['sysctl_file']) in mod.DOCUMENTATION
    assert sorted(_suppress.METHOD_OPTIONS['sysctl'] + _suppress.METHOD_OPTIONS['arptables']) == [
        'arp_announce', 'arp_ignore', 'interface', 'interfaces', 'real_ip', 'sysctl_file', 'vip']
