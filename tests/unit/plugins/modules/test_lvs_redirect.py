# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import shlex

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lvs.dr.plugins.module_utils._plan import Plan, Refusal
from ansible_collections.lvs.dr.plugins.module_utils._redirect import NAT_MARK, RedirectEngine
from ansible_collections.lvs.dr.plugins.module_utils._system import System
from ansible_collections.lvs.dr.plugins.modules import lvs_redirect

V4 = '198.51.100.100'
V6 = '2001:db8:0:1::100'
IPT = '/usr/sbin/iptables'
IP6T = '/usr/sbin/ip6tables'
FWCMD = '/usr/bin/firewall-cmd'
FWOFF = '/usr/bin/firewall-offline-cmd'
BINARIES = {
    'iptables': IPT, 'iptables-save': '/usr/sbin/iptables-save', 'iptables-restore': '/usr/sbin/iptables-restore',
    'ip6tables': IP6T, 'ip6tables-save': '/usr/sbin/ip6tables-save', 'ip6tables-restore': '/usr/sbin/ip6tables-restore',
    'firewall-cmd': FWCMD, 'firewall-offline-cmd': FWOFF,
}
SAVE = {'/usr/sbin/iptables-save': 'ipv4', '/usr/sbin/ip6tables-save': 'ipv6'}
TOOL_FAMILY = {IPT: 'ipv4', IP6T: 'ipv6'}
CREATED = '/etc/lvs-dr/iptables-created'
DIRECT_XML = '/etc/firewalld/direct.xml'
RULES4 = '/etc/iptables/rules.v4'
RESTORE_ENABLED = '/etc/systemd/system/multi-user.target.wants/netfilter-persistent.service'
FOREIGN = ('-d', V4 + '/32', '-p', 'tcp', '-m', 'tcp', '--dport', '80', '-j', 'REDIRECT')


def spec(vip, port, proto, backend='iptables'):
    prefix = 128 if ':' in vip else 32
    return ('-d', '%s/%d' % (vip, prefix), '-p', proto, '-m', proto, '--dport', str(port),
            '-m', 'comment', '--comment', 'lvs.dr redirect ' + backend, '-j', 'REDIRECT')


def fwspec(vip, port, proto):
    return spec(vip, port, proto, 'firewalld')


def saved(args):
    return ' '.join(['-A', 'PREROUTING'] + ['"%s"' % a if ' ' in a else a for a in args])


def nat_file(*rules):
    """A rules file as the module creates it (its marked *nat block), holding these rules."""
    return NAT_MARK + '*nat\n:PREROUTING ACCEPT [0:0]\n%sCOMMIT\n' % ''.join(saved(args) + '\n' for args in rules)


class FakeSystem(System):
    """The module's one seam, backed by an in-memory firewall (iptables and firewalld) and files."""

    def lock(self):
        self.host.locked = True

    def __init__(self, module, host):
        super(FakeSystem, self).__init__(module)
        self.host = host
        module.get_bin_path = lambda name, required=False, opt_dirs=None: host.binaries.get(name)

    def _execute(self, argv, check, data):
        self.host.calls.append(list(argv))
        rc, out, err = self.host.command(list(argv), data)
        if check and rc != 0:
            self._fail(argv, rc, out, err)
        return rc, out, err

    def read(self, path):
        self.host.reads.append(path)
        if path == DIRECT_XML and self.host.direct['permanent']:
            # firewalld's permanent direct rules, as direct.xml holds them (one <rule> per line).
            return '<?xml version="1.0" encoding="utf-8"?>\n<direct>\n%s</direct>\n' % ''.join(
                '  <rule ipv="%s" table="nat" chain="PREROUTING" priority="0">%s</rule>\n'
                % (rule[0], ' '.join(rule[1:])) for rule in self.host.direct['permanent'])
        return self.host.files.get(path)

    def exists(self, path):
        return path in self.host.files or path in self.host.markers

    def mode(self, path):
        return self.host.modes.get(path, 0o644) if path in self.host.files else None

    def write(self, path, content, mode=0o644):
        self.host.writes.append((path, content, mode))
        self.host.files[path] = content
        self.host.modes[path] = mode

    def remove(self, path):
        self.host.removes.append(path)
        self.host.files.pop(path, None)


class FakeHost(object):
    def __init__(self, markers=('/etc/debian_version', RESTORE_ENABLED), binaries=None, firewalld=True):
        self.markers = set(markers)
        self.binaries = dict(BINARIES if binaries is None else binaries)
        self.firewalld = firewalld
        self.iptables = {'ipv4': [], 'ipv6': []}
        self.direct = {'runtime': [], 'permanent': []}
        self.files, self.modes = {}, {}
        self.calls, self.reads, self.writes, self.removes, self.data = [], [], [], [], []
        self.probe_rc = None
        self.restore_rc = 0

    def kernel(self, family):
        """nat PREROUTING as the kernel has it: firewalld's runtime direct rules are iptables rules."""
        return self.iptables[family] + [rule[1:] for rule in self.direct['runtime'] if rule[0] == family]

    def dump(self, family):
        return '*nat\n:PREROUTING ACCEPT [0:0]\n%sCOMMIT\n' % ''.join(
            saved(args) + '\n' for args in self.kernel(family))

    def command(self, argv, data):
        tool = argv[0]
        if tool in TOOL_FAMILY:
            family = TOOL_FAMILY[tool]
            assert argv[1:3] == ['-t', 'nat'] and argv[4] == 'PREROUTING'
            if argv[3] == '-S':
                return 0, '-P PREROUTING ACCEPT\n' + ''.join(saved(args) + '\n' for args in self.kernel(family)), ''
            rule = tuple(argv[5:])
            if argv[3] == '-D' and rule not in self.iptables[family]:
                # iptables deletes a firewalld direct rule from the kernel just as well.
                self.direct['runtime'].remove((family,) + rule)
                return 0, '', ''
            rules = self.kernel(family) if argv[3] == '-C' else self.iptables[family]
            return self._apply(rules, argv[3], rule, {'-C': None, '-A': True, '-D': False})
        if tool in SAVE:
            return 0, self.dump(SAVE[tool]), ''
        if tool.endswith('-restore'):
            assert argv[1:] == ['--test']
            self.data.append(data)
            return (0, '', '') if self.restore_rc == 0 else (self.restore_rc, '', 'line 3 failed')
        if tool == FWOFF:
            # Only used while firewalld is stopped; it edits the permanent configuration.
            assert not self.firewalld
            argv = [FWCMD, '--permanent'] + argv[1:]
        if tool in (FWCMD, FWOFF):
            if argv[1:] == ['--state']:
                return (0, 'running\n', '') if self.firewalld else (252, 'not running\n', '')
            layer = 'permanent' if argv[1] == '--permanent' else 'runtime'
            rest = argv[2:] if layer == 'permanent' else argv[1:]
            if rest == ['--direct', '--get-all-rules']:
                # firewall-cmd quotes arguments with spaces like shlex.quote.
                return 0, ''.join('%s nat PREROUTING 0 %s\n' % (rule[0], ' '.join(shlex.quote(a) for a in rule[1:]))
                                  for rule in self.direct[layer]), ''
            assert rest[0] == '--direct' and rest[3:6] == ['nat', 'PREROUTING', '0']
            return self._apply(self.direct[layer], rest[1], (rest[2],) + tuple(rest[6:]),
                               {'--query-rule': None, '--add-rule': True, '--remove-rule': False})
        raise AssertionError('unexpected command %r' % argv)

    def _apply(self, rules, action, rule, actions):
        add = actions[action]
        if add is None:
            if self.probe_rc is not None:
                return self.probe_rc, '', 'probe broke'
            return (0, '', '') if rule in rules else (1, '', '')
        if add:
            rules.append(rule)
        else:
            rules.remove(rule)
        return 0, '', ''

    def mutations(self):
        """Commands that change something (everything but probes, listings, --state, -save and the
        validation of a rules file by -restore --test)."""
        return [argv for argv in self.calls
                if not set(argv) & {'-C', '-S', '--query-rule', '--get-all-rules', '--state', '--test'}
                and argv[0] not in SAVE]

    def validations(self):
        return [argv[0] for argv in self.calls if argv[1:] == ['--test']]


def run_module(host, monkeypatch, capsys, check=False, **args):
    monkeypatch.setattr(lvs_redirect, 'System', lambda module: FakeSystem(module, host))
    args.setdefault('backend', 'iptables')
    args['_ansible_check_mode'] = check
    args['_ansible_diff'] = True
    host.calls[:] = []
    host.writes[:] = []
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            lvs_redirect.main()
    result = json.loads(capsys.readouterr().out)
    result.pop('invocation', None)
    return result


def ipt(tool, flag, vip, port, proto):
    return [tool, '-t', 'nat', flag, 'PREROUTING'] + list(spec(vip, port, proto))


def fw(options, action, family, vip, port, proto, tool=FWCMD):
    return [tool] + options + ['--direct', action, family, 'nat', 'PREROUTING', '0'] + list(fwspec(vip, port, proto))


QUARTET_V4_V6 = dict(vip=[V6, V4], ports=[80], protocols=['udp', 'tcp'])
ALL4 = [(IPT, V4, 'tcp'), (IPT, V4, 'udp'), (IP6T, V6, 'tcp'), (IP6T, V6, 'udp')]


def test_iptables_check_mode_runs_nothing_and_predicts(monkeypatch, capsys):
    host = FakeHost()
    result = run_module(host, monkeypatch, capsys, check=True, **QUARTET_V4_V6)
    assert result['changed'] is True
    assert host.mutations() == [] and host.writes == []
    assert result['persist_files'] == ['/etc/iptables/rules.v4', '/etc/iptables/rules.v6']
    assert result['actions'][-2:] == ['save the ipv4 rules to /etc/iptables/rules.v4',
                                      'save the ipv6 rules to /etc/iptables/rules.v6']
    assert result['diff']['before'] == {'runtime': [], 'persistent': []}
    assert result['diff']['after']['runtime'] == ['ipv4 tcp %s port 80' % V4, 'ipv4 udp %s port 80' % V4,
                                                  'ipv6 tcp %s port 80' % V6, 'ipv6 udp %s port 80' % V6]
    assert result['diff']['after']['persistent'] == result['diff']['after']['runtime']


def test_iptables_apply_then_idempotent(monkeypatch, capsys):
    host = FakeHost()
    result = run_module(host, monkeypatch, capsys, **QUARTET_V4_V6)
    assert result['changed'] is True
    assert host.mutations() == [ipt(tool, '-A', vip, 80, proto) for tool, vip, proto in ALL4]
    # Each file's new text is validated while planning, before the first change.
    assert host.calls.index(['/usr/sbin/ip6tables-restore', '--test']) < host.calls.index(host.mutations()[0])
    assert host.validations() == ['/usr/sbin/iptables-restore', '/usr/sbin/ip6tables-restore']
    assert host.data == [NAT_MARK + host.dump('ipv4'), NAT_MARK + host.dump('ipv6')]
    assert [(path, mode) for path, dummy, mode in host.writes] == [
        (CREATED, 0o644), ('/etc/iptables/rules.v4', 0o640), ('/etc/iptables/rules.v6', 0o640)]
    assert host.files[CREATED] == '/etc/iptables/rules.v4\n/etc/iptables/rules.v6\n'
    assert host.files['/etc/iptables/rules.v4'] == NAT_MARK + host.dump('ipv4')
    assert result['rules'][0] == dict(family='ipv4', vip=V4, port=80, protocol='tcp',
                                      argv=ipt(IPT, '-A', V4, 80, 'tcp'))
    assert [(r['layer'], r['protocol'], r['family']) for r in result['added']] == [
        ('runtime', 'tcp', 'ipv4'), ('runtime', 'udp', 'ipv4'), ('runtime', 'tcp', 'ipv6'), ('runtime', 'udp', 'ipv6'),
        ('persistent', 'tcp', 'ipv4'), ('persistent', 'udp', 'ipv4'), ('persistent', 'tcp', 'ipv6'),
        ('persistent', 'udp', 'ipv6')]

    for check in (False, True):
        again = run_module(host, monkeypatch, capsys, check=check, **QUARTET_V4_V6)
        assert again['changed'] is False and again['actions'] == [] and host.mutations() == []
        assert again['diff']['before'] == again['diff']['after'] == result['diff']['after']


def test_iptables_absent_removes_only_its_own(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, **QUARTET_V4_V6)
    host.iptables['ipv4'].insert(0, FOREIGN)
    other_port = spec(V4, 443, 'tcp')
    host.iptables['ipv4'].append(other_port)
    # The administrator's rule saved in the file too (the module never copies the live ruleset into it).
    host.files[RULES4] = host.files[RULES4].replace(':PREROUTING ACCEPT [0:0]\n',
                                                    ':PREROUTING ACCEPT [0:0]\n%s\n' % saved(FOREIGN))

    check = run_module(host, monkeypatch, capsys, check=True, state='absent', **QUARTET_V4_V6)
    assert check['changed'] is True and host.mutations() == [] and host.writes == []

    result = run_module(host, monkeypatch, capsys, state='absent', **QUARTET_V4_V6)
    assert result['changed'] is True
    assert host.mutations()[:4] == [ipt(tool, '-D', vip, 80, proto) for tool, vip, proto in ALL4]
    assert host.iptables == {'ipv4': [FOREIGN, other_port], 'ipv6': []}
    # The module's lines went; the administrator's stayed; other_port was never saved and is not now.
    assert host.files[RULES4] == nat_file(FOREIGN)
    assert '/etc/iptables/rules.v6' not in host.files and host.files[CREATED] == RULES4 + '\n'
    assert result['diff']['after'] == {'runtime': [], 'persistent': []}
    assert len(result['removed']) == 8 and result['added'] == []

    again = run_module(host, monkeypatch, capsys, state='absent', **QUARTET_V4_V6)
    assert again['changed'] is False and host.mutations() == [] and host.writes == []


def test_iptables_absent_removes_the_files_it_created_once_empty(monkeypatch, capsys):
    host = FakeHost()
    host.files['/etc/iptables/rules.v6'] = host.dump('ipv6')  # the operator's, from before
    run_module(host, monkeypatch, capsys, **QUARTET_V4_V6)
    assert host.files[CREATED] == '/etc/iptables/rules.v4\n'

    check = run_module(host, monkeypatch, capsys, check=True, state='absent')
    assert check['actions'][-3:] == [
        'remove /etc/iptables/rules.v4 (created by lvs_redirect, no rule left to save)',
        'save the ipv6 rules to /etc/iptables/rules.v6',
        'record the rules files lvs_redirect created in %s' % CREATED]
    assert host.removes == [] and CREATED in host.files

    run_module(host, monkeypatch, capsys, state='absent')
    assert host.removes == ['/etc/iptables/rules.v4', CREATED]
    assert host.files == {'/etc/iptables/rules.v6': host.dump('ipv6')}
    again = run_module(host, monkeypatch, capsys, state='absent')
    assert again['changed'] is False


def test_iptables_absent_keeps_a_created_file_that_holds_other_rules(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, vip=[V4], ports=[80])
    host.files[RULES4] += '*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n'  # the administrator's
    run_module(host, monkeypatch, capsys, state='absent')
    # The module's block went with its last rule; the administrator's table stayed.
    assert host.removes == [] and host.files[RULES4] == '*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n'
    assert CREATED in host.files


def test_iptables_absent_does_not_save_transient_rules(monkeypatch, capsys):
    """Another tool's rule in force (a container engine's, fail2ban's) is not copied into the file: it
    holds the module's lines only, so the file it created goes with them."""
    host = FakeHost()
    run_module(host, monkeypatch, capsys, vip=[V4], ports=[80])
    host.iptables['ipv4'].append(FOREIGN)
    run_module(host, monkeypatch, capsys, state='absent')
    assert host.removes == [RULES4, CREATED] and host.iptables['ipv4'] == [FOREIGN]


def test_iptables_warns_when_firewalld_would_reset_the_rules_at_boot(monkeypatch, capsys):
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    run_module(FakeHost(), monkeypatch, capsys, vip=[V4], ports=[80])
    assert warnings == []
    host = FakeHost(markers=('/etc/debian_version', RESTORE_ENABLED,
                             '/etc/systemd/system/multi-user.target.wants/firewalld.service'))
    run_module(host, monkeypatch, capsys, vip=[V4], ports=[80])
    assert len(warnings) == 1 and warnings[0].startswith('firewalld is enabled')


@pytest.mark.parametrize('markers, families, message', [
    (('/etc/debian_version',), [V4, V6], 'persist: true saves the REDIRECT rules to /etc/iptables/rules.v4 and '
                                         '/etc/iptables/rules.v6, but netfilter-persistent.service is not enabled'),
    (('/etc/redhat-release', '/etc/systemd/system/basic.target.wants/iptables.service'), [V4, V6],
     'saves the REDIRECT rules to /etc/sysconfig/ip6tables, but ip6tables.service is not enabled'),
])
def test_iptables_warns_when_nothing_restores_the_file_at_boot(monkeypatch, capsys, markers, families, message):
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    result = run_module(FakeHost(markers=markers), monkeypatch, capsys, vip=families, ports=[80])
    assert result['changed'] is True and len(warnings) == 1 and message in warnings[0]
    # Not for runtime-only rules, nor for removal.
    run_module(FakeHost(markers=markers), monkeypatch, capsys, vip=families, ports=[80], persist=False)
    run_module(FakeHost(markers=markers), monkeypatch, capsys, state='absent')
    assert len(warnings) == 1


def test_iptables_absent_on_a_clean_host_writes_nothing(monkeypatch, capsys):
    host = FakeHost()
    result = run_module(host, monkeypatch, capsys, state='absent', vip=[V4, V6], ports=[80], protocols=['tcp'])
    assert result['changed'] is False and host.mutations() == [] and host.writes == []
    assert host.reads == [CREATED, '/etc/iptables/rules.v4', '/etc/iptables/rules.v6']


def test_iptables_persist_file_drift_only_saves(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, vip=[V4], ports=[80])
    host.files['/etc/iptables/rules.v4'] = '*filter\nCOMMIT\n'
    result = run_module(host, monkeypatch, capsys, vip=[V4], ports=[80])
    assert result['actions'] == ['save the ipv4 rules to /etc/iptables/rules.v4']
    assert result['added'] == [dict(family='ipv4', vip=V4, port=80, protocol='tcp', layer='persistent')]
    assert result['diff']['before'] == {'runtime': ['ipv4 tcp %s port 80' % V4], 'persistent': []}


def test_iptables_saved_rule_outside_nat_does_not_count(monkeypatch, capsys):
    host = FakeHost()
    host.files['/etc/iptables/rules.v4'] = '*filter\n%s\nCOMMIT\n' % saved(spec(V4, 80, 'tcp'))
    result = run_module(host, monkeypatch, capsys, check=True, vip=[V4], ports=[80])
    assert result['diff']['before']['persistent'] == []


# --- the saved-rules file: only the module's own lines change -----------------------------------------

# An administrator's file: a *filter table, and in *nat a DNAT rule saved but not loaded live, a user
# chain and a POSTROUTING rule; comments as iptables-save writes them.
ADMIN_FILE = (
    '# Generated by iptables-save v1.8.9 (nf_tables) on Mon Jan  1 00:00:00 2024\n'
    '*filter\n'
    ':INPUT DROP [0:0]\n'
    ':FORWARD DROP [0:0]\n'
    ':OUTPUT ACCEPT [0:0]\n'
    '-A INPUT -i lo -j ACCEPT\n'
    '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n'
    'COMMIT\n'
    '# Completed on Mon Jan  1 00:00:00 2024\n'
    '*nat\n'
    ':PREROUTING ACCEPT [0:0]\n'
    ':INPUT ACCEPT [0:0]\n'
    ':OUTPUT ACCEPT [0:0]\n'
    ':POSTROUTING ACCEPT [0:0]\n'
    ':ADMIN - [0:0]\n'
    '-A PREROUTING -d 203.0.113.7/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80\n'
    '-A POSTROUTING -o eth0 -j MASQUERADE\n'
    'COMMIT\n')
DNAT = '-A PREROUTING -d 203.0.113.7/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80\n'


def test_iptables_saved_file_keeps_every_other_line(monkeypatch, capsys):
    host = FakeHost()
    host.files[RULES4], host.modes[RULES4] = ADMIN_FILE, 0o600
    host.iptables['ipv4'].append(FOREIGN)  # in force, never saved: stays out of the file
    args = dict(vip=[V4], ports=[80], protocols=['tcp', 'udp'])

    check = run_module(host, monkeypatch, capsys, check=True, **args)
    assert check['actions'][-1] == 'save the ipv4 rules to %s' % RULES4 and host.writes == []
    assert host.files[RULES4] == ADMIN_FILE

    run_module(host, monkeypatch, capsys, **args)
    ours = '%s\n%s\n' % (saved(spec(V4, 80, 'tcp')), saved(spec(V4, 80, 'udp')))
    # The module's lines come after the chain's last rule, as iptables -A put them; nothing else moved.
    assert host.files[RULES4] == ADMIN_FILE.replace(DNAT, DNAT + ours)
    assert host.writes == [(RULES4, ADMIN_FILE.replace(DNAT, DNAT + ours), 0o600)]  # its mode kept
    assert CREATED not in host.files
    assert run_module(host, monkeypatch, capsys, **args)['changed'] is False

    removed = run_module(host, monkeypatch, capsys, state='absent', **args)
    assert removed['changed'] is True and host.files[RULES4] == ADMIN_FILE and host.removes == []
    assert host.writes == [(RULES4, ADMIN_FILE, 0o600)] and host.iptables['ipv4'] == [FOREIGN]
    assert run_module(host, monkeypatch, capsys, state='absent')['changed'] is False


@pytest.mark.parametrize('original', ['*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', '', '# nothing yet\n'])
def test_iptables_saved_file_without_nat_gets_a_block_that_goes_with_the_last_rule(monkeypatch, capsys, original):
    host = FakeHost()
    host.files[RULES4] = original
    run_module(host, monkeypatch, capsys, vip=[V4], ports=[80, 443])
    assert host.files[RULES4] == original + nat_file(spec(V4, 80, 'tcp'), spec(V4, 443, 'tcp'))
    run_module(host, monkeypatch, capsys, state='absent', vip=[V4], ports=[443])
    assert host.files[RULES4] == original + nat_file(spec(V4, 80, 'tcp'))
    run_module(host, monkeypatch, capsys, state='absent')
    assert host.files[RULES4] == original and host.removes == []


def test_iptables_saved_nat_block_without_rules_gets_them_before_commit(monkeypatch, capsys):
    host = FakeHost()
    host.files[RULES4] = '*nat\r\n:PREROUTING ACCEPT [0:0]\r\nCOMMIT\r\n*filter\r\nCOMMIT\r\n'
    run_module(host, monkeypatch, capsys, vip=[V4], ports=[80])
    assert host.files[RULES4] == ('*nat\r\n:PREROUTING ACCEPT [0:0]\r\n%s\nCOMMIT\r\n*filter\r\nCOMMIT\r\n'
                                  % saved(spec(V4, 80, 'tcp')))
    run_module(host, monkeypatch, capsys, state='absent')
    assert host.files[RULES4] == '*nat\r\n:PREROUTING ACCEPT [0:0]\r\nCOMMIT\r\n*filter\r\nCOMMIT\r\n'


def test_iptables_absent_removes_a_created_file_the_former_version_filled_with_the_dump(monkeypatch, capsys):
    """Files the module created before saved the whole dump: one that restores nothing but the module's rules
    still goes with them."""
    host = FakeHost()
    host.iptables['ipv4'].append(spec(V4, 80, 'tcp'))
    host.files[CREATED] = RULES4 + '\n'
    host.files[RULES4] = ('# Generated by iptables-save v1.8.9 on Mon Jan  1 00:00:00 2024\n*filter\n'
                          ':INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n'
                          '# Completed on Mon Jan  1 00:00:00 2024\n' + host.dump('ipv4'))
    result = run_module(host, monkeypatch, capsys, state='absent')
    assert result['changed'] is True and host.removes == [RULES4, CREATED] and host.files == {}


def test_iptables_saved_file_the_restore_tool_rejects_is_refused_before_any_change(monkeypatch, capsys):
    host = FakeHost()
    host.files[RULES4] = '*filter\n-A INPUT -j NOSUCHCHAIN\nCOMMIT\n'
    host.restore_rc = 2
    for check in (True, False):
        result = run_module(host, monkeypatch, capsys, check=check, vip=[V4], ports=[80])
        assert result['failed'] is True and result['rc'] == 2
        assert result['msg'].startswith('/etc/iptables/rules.v4 would not load at boot with the REDIRECT rules '
                                        'changed in it: /usr/sbin/iptables-restore --test rejects it (line 3 failed)')
        assert 'Nothing was changed' in result['msg'] and 'persist: false' in result['msg']
        # The runtime rule came first in the plan, and was not added either.
        assert host.mutations() == [] and host.writes == [] and host.iptables['ipv4'] == []


def test_iptables_foreign_created_record_is_refused(monkeypatch, capsys):
    host = FakeHost()
    host.files[CREATED] = '/etc/passwd\n'
    for args in (dict(vip=[V4], ports=[80]), dict(state='absent')):
        result = run_module(host, monkeypatch, capsys, **args)
        assert result['failed'] is True and 'was not written by lvs_redirect' in result['msg']
        assert host.mutations() == [] and host.writes == [] and host.removes == []


def test_iptables_persist_false_touches_no_file(monkeypatch, capsys):
    host = FakeHost(markers=(), binaries={'iptables': IPT})
    result = run_module(host, monkeypatch, capsys, vip=[V4], ports=[80, 443], persist=False)
    assert host.mutations() == [ipt(IPT, '-A', V4, 80, 'tcp'), ipt(IPT, '-A', V4, 443, 'tcp')]
    assert host.reads == [] and host.writes == [] and result['persist_files'] == []
    assert result['diff']['after'] == {'runtime': ['ipv4 tcp %s port 443' % V4, 'ipv4 tcp %s port 80' % V4]}


def test_iptables_absent_where_no_rules_file_is_known_removes_the_runtime_rules(monkeypatch, capsys):
    host = FakeHost(markers=(), binaries={'iptables': IPT})
    run_module(host, monkeypatch, capsys, vip=[V4], ports=[80], persist=False)
    result = run_module(host, monkeypatch, capsys, state='absent')
    assert host.mutations() == [ipt(IPT, '-D', V4, 80, 'tcp')] and host.reads == []
    assert result['diff']['after'] == {'runtime': []}


def test_iptables_rhel_files(monkeypatch, capsys):
    host = FakeHost(markers=('/etc/redhat-release',))
    result = run_module(host, monkeypatch, capsys, vip=[V4, V6], ports=[22])
    assert result['persist_files'] == ['/etc/sysconfig/iptables', '/etc/sysconfig/ip6tables']
    assert [(path, mode) for path, dummy, mode in host.writes] == [
        (CREATED, 0o644), ('/etc/sysconfig/iptables', 0o600), ('/etc/sysconfig/ip6tables', 0o600)]


def test_ipv4_only_needs_no_ip6tables(monkeypatch, capsys):
    host = FakeHost(binaries=dict((k, v) for k, v in BINARIES.items() if not k.startswith('ip6')))
    result = run_module(host, monkeypatch, capsys, vip=[V4], ports=[80])
    assert result['changed'] is True and result['persist_files'] == ['/etc/iptables/rules.v4']


def test_firewalld_runtime_and_permanent(monkeypatch, capsys):
    host = FakeHost()
    args = dict(backend='firewalld', vip=[V4, V6], ports=[80], protocols=['tcp'])
    check = run_module(host, monkeypatch, capsys, check=True, **args)
    assert check['changed'] is True and host.mutations() == []
    assert host.calls[0] == [FWCMD, '--state']

    result = run_module(host, monkeypatch, capsys, **args)
    assert host.mutations() == [
        fw([], '--add-rule', 'ipv4', V4, 80, 'tcp'), fw([], '--add-rule', 'ipv6', V6, 80, 'tcp'),
        fw(['--permanent'], '--add-rule', 'ipv4', V4, 80, 'tcp'),
        fw(['--permanent'], '--add-rule', 'ipv6', V6, 80, 'tcp')]
    assert result['persist_files'] == ['/etc/firewalld/direct.xml'] and host.writes == []
    assert result['rules'][1]['argv'] == fw([], '--add-rule', 'ipv6', V6, 80, 'tcp')

    for check in (False, True):
        again = run_module(host, monkeypatch, capsys, check=check, **args)
        assert again['changed'] is False and host.mutations() == []

    # The permanent configuration drifted: only it is repaired.
    host.direct['permanent'].pop()
    drift = run_module(host, monkeypatch, capsys, **args)
    assert host.mutations() == [fw(['--permanent'], '--add-rule', 'ipv6', V6, 80, 'tcp')]
    assert drift['actions'] == ['add ipv6 tcp %s port 80 (persistent)' % V6]
    assert drift['persist_files'] == ['/etc/firewalld/direct.xml']

    # The runtime drifted: no permanent file is involved.
    host.direct['runtime'].pop(0)
    drift = run_module(host, monkeypatch, capsys, **args)
    assert host.mutations() == [fw([], '--add-rule', 'ipv4', V4, 80, 'tcp')]
    assert drift['persist_files'] == []

    host.direct['runtime'].insert(0, ('ipv4',) + FOREIGN)
    removed = run_module(host, monkeypatch, capsys, state='absent', **args)
    assert host.mutations() == [
        fw([], '--remove-rule', 'ipv4', V4, 80, 'tcp'), fw([], '--remove-rule', 'ipv6', V6, 80, 'tcp'),
        fw(['--permanent'], '--remove-rule', 'ipv4', V4, 80, 'tcp'),
        fw(['--permanent'], '--remove-rule', 'ipv6', V6, 80, 'tcp')]
    assert removed['changed'] is True and host.direct == {'runtime': [('ipv4',) + FOREIGN], 'permanent': []}
    assert run_module(host, monkeypatch, capsys, state='absent', **args)['changed'] is False


def test_firewalld_persist_false_is_runtime_only(monkeypatch, capsys):
    host = FakeHost()
    host.direct['permanent'].append(('ipv4',) + fwspec(V4, 53, 'udp'))
    args = dict(backend='firewalld', vip=[V4], ports=[53], protocols=['udp'], persist=False)
    result = run_module(host, monkeypatch, capsys, **args)
    assert host.mutations() == [fw([], '--add-rule', 'ipv4', V4, 53, 'udp')]
    assert result['persist_files'] == [] and list(result['diff']['before']) == ['runtime']
    run_module(host, monkeypatch, capsys, state='absent', **args)
    assert host.mutations() == [fw([], '--remove-rule', 'ipv4', V4, 53, 'udp')]
    assert host.direct['permanent'] == [('ipv4',) + fwspec(V4, 53, 'udp')]


def test_probe_error_fails_before_any_change(monkeypatch, capsys):
    host = FakeHost()
    host.probe_rc = 2
    result = run_module(host, monkeypatch, capsys, vip=[V4], ports=[80])
    assert result['failed'] is True and result['msg'].startswith('Cannot probe for the rule ipv4 tcp')
    assert host.mutations() == []


NO_IP6 = dict((k, v) for k, v in BINARIES.items() if not k.startswith('ip6'))


@pytest.mark.parametrize('args, host_args, message', [
    (dict(vip=['198.51.100.300'], ports=[80]), {}, "'198.51.100.300' is not a valid IPv4 or IPv6 address"),
    (dict(vip=['198.51.100.100/24'], ports=[80]), {},
     '198.51.100.100/24: a REDIRECT rule matches a single destination address; give the VIP without a prefix or as /32.'),
    (dict(vip=['2001:db8::1/64'], ports=[80]), {}, 'give the VIP without a prefix or as /128.'),
    (dict(vip=['198.51.100.1/32', '198.51.100.1/24'], ports=[80]), {}, 'Conflicting VIP definitions'),
    (dict(vip=['127.0.0.1'], ports=[80]), {}, 'is not usable as a virtual IP'),
    (dict(vip=[], ports=[80]), {}, 'vip is an empty list: with state present no REDIRECT rule would be added'),
    (dict(vip=[V4], ports=[]), {}, 'ports is an empty list: with state present no REDIRECT rule would be added'),
    (dict(vip=[V4], ports=[80], protocols=[]), {}, 'protocols is an empty list: with state present'),
    (dict(vip=[V4], ports=[True]), {}, 'ports: True is not a port number'),
    (dict(vip=['::192.0.2.1'], ports=[80]), {}, 'ip6tables would print this address as ::192.0.2.1'),
    (dict(vip=['2001:db8::1%eth0'], ports=[80]), {}, 'scoped'),
    (dict(vip=['::ffff:198.51.100.100'], ports=[80]), {}, 'IPv4-mapped'),
    (dict(vip=['255.255.255.255'], ports=[80]), {}, 'is not usable as a virtual IP'),
    (dict(vip=['%s -j ACCEPT' % V4], ports=[80]), {}, 'is not a valid IPv4 or IPv6 address'),
    (dict(vip=[V4], ports=[0]), {}, 'Port 0 is out of range: ports are 1 to 65535.'),
    (dict(vip=[V4], ports=[80, 65536]), {}, 'Port 65536 is out of range'),
    (dict(vip=[V4], ports=[80], protocols=['sctp']), {}, 'value of protocols must be one or more of: tcp, udp'),
    (dict(vip=[V4], ports=['http']), {}, "Elements value for option 'ports' is of type"),
    (dict(vip=[V4], ports=[80], backend='nftables'), {}, 'value of backend must be one of: iptables, firewalld'),
    (dict(vip=[V4], ports=[80]), dict(binaries={}), 'The iptables binary was not found on the host'),
    (dict(vip=[V4, V6], ports=[80]), dict(binaries=NO_IP6), 'The ip6tables binary was not found on the host'),
    (dict(vip=[V4], ports=[80]), dict(binaries={'iptables': IPT}), 'The iptables-restore binary was not found'),
    (dict(vip=[V4], ports=[80]), dict(markers=()),
     'persist=true, but this distribution keeps its saved iptables rules in no place the module knows'),
    (dict(vip=[V4], ports=[80], backend='firewalld'), dict(binaries={}), 'The firewall-cmd binary was not found'),
    (dict(vip=[V4], ports=[80], backend='firewalld'), dict(firewalld=False),
     'firewalld is not running (firewall-cmd --state: not running); start it (systemctl start firewalld) '
     'or choose backend: iptables.'),
])
def test_bad_input_fails_before_any_change(monkeypatch, capsys, args, host_args, message):
    host = FakeHost(**host_args)
    result = run_module(host, monkeypatch, capsys, **args)
    assert result['failed'] is True
    assert message in result['msg']
    assert host.mutations() == [] and host.writes == []


# --- state=absent as cleanup: vip/ports/protocols optional, missing tools, firewalld stopped ---------

def test_iptables_absent_without_vip_removes_every_own_rule(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, **QUARTET_V4_V6)
    run_module(host, monkeypatch, capsys, vip=['198.51.100.101'], ports=[443])
    host.iptables['ipv4'].insert(0, FOREIGN)

    check = run_module(host, monkeypatch, capsys, check=True, state='absent')
    assert check['changed'] is True and host.mutations() == [] and host.writes == []
    assert host.calls[:2] == [[IPT, '-t', 'nat', '-S', 'PREROUTING'], [IP6T, '-t', 'nat', '-S', 'PREROUTING']]

    result = run_module(host, monkeypatch, capsys, state='absent')
    assert host.mutations()[:5] == [
        ipt(IPT, '-D', V4, 80, 'tcp'), ipt(IPT, '-D', V4, 80, 'udp'),
        ipt(IPT, '-D', '198.51.100.101', 443, 'tcp'),
        ipt(IP6T, '-D', V6, 80, 'tcp'), ipt(IP6T, '-D', V6, 80, 'udp')]
    assert host.iptables == {'ipv4': [FOREIGN], 'ipv6': []}
    # Both files held the module's rules only (FOREIGN was never saved): both went, with the record.
    assert host.files == {} and host.removes == [RULES4, '/etc/iptables/rules.v6', CREATED]
    assert [r['vip'] for r in result['rules']] == [V4, V4, '198.51.100.101', V6, V6]
    assert result['diff']['after'] == {'runtime': [], 'persistent': []}
    assert len(result['diff']['before']['persistent']) == 5

    for check in (False, True):
        again = run_module(host, monkeypatch, capsys, check=check, state='absent')
        assert again['changed'] is False and host.mutations() == [] and host.writes == []


def test_iptables_absent_filters_on_what_is_given(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, vip=[V4, V6], ports=[80, 443], protocols=['tcp', 'udp'], persist=False)
    result = run_module(host, monkeypatch, capsys, state='absent', ports=[443], protocols=['udp'], persist=False)
    assert host.mutations() == [ipt(IPT, '-D', V4, 443, 'udp'), ipt(IP6T, '-D', V6, 443, 'udp')]
    run_module(host, monkeypatch, capsys, state='absent', vip=[V6], persist=False)
    # Only IPv6 was asked for, so only ip6tables is listed.
    assert host.calls[0] == [IP6T, '-t', 'nat', '-S', 'PREROUTING']
    assert [argv[0] for argv in host.mutations()] == [IP6T] * 3
    assert result['changed'] is True and len(host.iptables['ipv4']) == 3 and host.iptables['ipv6'] == []


@pytest.mark.parametrize('args', [dict(vip=[V4, V6], ports=[80], protocols=['tcp']), {}])
def test_iptables_absent_without_the_tools_is_a_no_op(monkeypatch, capsys, args):
    host = FakeHost(binaries={}, markers=())
    for check in (True, False):
        result = run_module(host, monkeypatch, capsys, check=check, state='absent', **args)
        assert result['changed'] is False and host.calls == [] and host.reads == [] and host.writes == []
        assert result['rules'] == [] and result['persist_files'] == []


def test_iptables_absent_without_ip6tables_handles_ipv4_only(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, vip=[V4], ports=[80])
    host.binaries = dict(NO_IP6)
    result = run_module(host, monkeypatch, capsys, state='absent', vip=[V4, V6], ports=[80], protocols=['tcp'])
    assert host.mutations()[0] == ipt(IPT, '-D', V4, 80, 'tcp')
    assert all(argv[0] != IP6T for argv in host.calls) and result['persist_files'] == ['/etc/iptables/rules.v4']


def test_firewalld_absent_without_vip_both_layers(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, backend='firewalld', vip=[V4, V6], ports=[80])
    host.direct['runtime'].insert(0, ('ipv4',) + FOREIGN)
    host.direct['permanent'].append(('ipv4',) + fwspec('198.51.100.101', 53, 'udp'))

    check = run_module(host, monkeypatch, capsys, check=True, backend='firewalld', state='absent')
    assert check['changed'] is True and host.mutations() == []
    assert host.calls == [[FWCMD, '--state'], [FWCMD, '--direct', '--get-all-rules'],
                          [FWCMD, '--permanent', '--direct', '--get-all-rules']]

    run_module(host, monkeypatch, capsys, backend='firewalld', state='absent')
    assert host.mutations() == [
        fw([], '--remove-rule', 'ipv4', V4, 80, 'tcp'), fw([], '--remove-rule', 'ipv6', V6, 80, 'tcp'),
        fw(['--permanent'], '--remove-rule', 'ipv4', V4, 80, 'tcp'),
        fw(['--permanent'], '--remove-rule', 'ipv6', V6, 80, 'tcp'),
        fw(['--permanent'], '--remove-rule', 'ipv4', '198.51.100.101', 53, 'udp')]
    assert host.direct == {'runtime': [('ipv4',) + FOREIGN], 'permanent': []}
    for check in (False, True):
        again = run_module(host, monkeypatch, capsys, check=check, backend='firewalld', state='absent')
        assert again['changed'] is False and host.mutations() == []


@pytest.mark.parametrize('args', [dict(vip=[V4], ports=[80], protocols=['tcp']), dict(vip=[V4])])
def test_firewalld_stopped_absent_cleans_the_permanent_layer_offline(monkeypatch, capsys, args):
    host = FakeHost(firewalld=False)
    host.direct['permanent'] = [('ipv4',) + fwspec(V4, 80, 'tcp'), ('ipv6',) + fwspec(V6, 80, 'tcp')]
    args = dict(args, backend='firewalld', state='absent')

    check = run_module(host, monkeypatch, capsys, check=True, **args)
    assert check['changed'] is True and host.mutations() == []
    assert check['diff']['before'] == {'persistent': ['ipv4 tcp %s port 80' % V4]}

    result = run_module(host, monkeypatch, capsys, **args)
    assert host.mutations() == [fw([], '--remove-rule', 'ipv4', V4, 80, 'tcp', tool=FWOFF)]
    assert result['persist_files'] == ['/etc/firewalld/direct.xml'] and result['rules'][0]['argv'] is None
    assert host.direct['permanent'] == [('ipv6',) + fwspec(V6, 80, 'tcp')]
    assert run_module(host, monkeypatch, capsys, **args)['changed'] is False and host.mutations() == []


def test_firewalld_stopped_absent_runtime_only_is_a_no_op(monkeypatch, capsys):
    host = FakeHost(firewalld=False)
    result = run_module(host, monkeypatch, capsys, backend='firewalld', state='absent', persist=False)
    # No firewalld rule in the kernel: firewall-cmd is not even started.
    assert result['changed'] is False and host.calls == [[IPT, '-t', 'nat', '-S', 'PREROUTING'],
                                                         [IP6T, '-t', 'nat', '-S', 'PREROUTING']]


def test_firewalld_absent_asks_firewalld_only_where_its_rules_can_be(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, backend='firewalld', **FW_ARGS)
    host.direct['runtime'] = []  # left in direct.xml only
    result = run_module(host, monkeypatch, capsys, backend='firewalld', state='absent')
    assert result['changed'] is True and host.direct['permanent'] == []
    result = run_module(host, monkeypatch, capsys, backend='firewalld', state='absent')
    assert result['changed'] is False and FWCMD not in [argv[0] for argv in host.calls]


def test_firewalld_absent_without_firewall_cmd_is_a_no_op(monkeypatch, capsys):
    host = FakeHost(binaries={})
    result = run_module(host, monkeypatch, capsys, backend='firewalld', state='absent')
    assert result['changed'] is False and host.calls == [] and result['rules'] == []


@pytest.mark.parametrize('args, message', [
    (dict(ports=[80]), 'state is present but all of the following are missing: vip'),
    (dict(vip=[V4]), 'state is present but all of the following are missing: ports'),
    (dict(vip=[], state='absent'), 'vip is an empty list: with state absent it would match no rule'),
    (dict(ports=[], state='absent'), 'Omit ports to remove the module\'s rules whatever their port'),
    (dict(ports=[0], state='absent'), 'Port 0 is out of range'),
])
def test_optional_only_for_absent(monkeypatch, capsys, args, message):
    host = FakeHost()
    result = run_module(host, monkeypatch, capsys, **args)
    assert result['failed'] is True and message in result['msg'] and host.calls == []


# --- ownership between backends: firewalld's direct rules are iptables rules in the kernel -----------

FW_ARGS = dict(vip=[V4, V6], ports=[80], protocols=['tcp'])


def test_iptables_neither_sees_nor_removes_firewalld_rules(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, backend='firewalld', **FW_ARGS)
    firewalld = dict((layer, list(rules)) for layer, rules in host.direct.items())
    assert saved(fwspec(V4, 80, 'tcp')) in host.dump('ipv4')

    # Removal by exact probe (-C) and by listing (-S) finds nothing of its own.
    for args in (FW_ARGS, {}):
        for check in (True, False):
            result = run_module(host, monkeypatch, capsys, check=check, state='absent', **args)
            assert result['changed'] is False and host.mutations() == [] and host.writes == []
            assert result['rules'] == [] or result['diff']['before']['runtime'] == []
    assert host.direct == firewalld

    # present adds its own rules next to firewalld's, and the saved file leaves firewalld's out.
    check = run_module(host, monkeypatch, capsys, check=True, **FW_ARGS)
    assert check['changed'] is True and check['diff']['before'] == {'runtime': [], 'persistent': []}
    run_module(host, monkeypatch, capsys, **FW_ARGS)
    assert host.mutations()[:2] == [ipt(IPT, '-A', V4, 80, 'tcp'), ipt(IP6T, '-A', V6, 80, 'tcp')]
    assert host.files['/etc/iptables/rules.v4'] == nat_file(spec(V4, 80, 'tcp'))
    # Validated in check mode too (restore --test changes nothing), then for the run itself.
    assert host.data[-4:] == 2 * [host.files['/etc/iptables/rules.v4'], host.files['/etc/iptables/rules.v6']]
    assert run_module(host, monkeypatch, capsys, **FW_ARGS)['changed'] is False

    removed = run_module(host, monkeypatch, capsys, state='absent')
    assert host.mutations()[:2] == [ipt(IPT, '-D', V4, 80, 'tcp'), ipt(IP6T, '-D', V6, 80, 'tcp')]
    assert len(removed['removed']) == 4 and host.iptables == {'ipv4': [], 'ipv6': []}
    # The files it created held nothing else (firewalld's rules are never saved there): removed.
    assert host.direct == firewalld and host.removes == ['/etc/iptables/rules.v4', '/etc/iptables/rules.v6', CREATED]


def test_firewalld_neither_sees_nor_removes_iptables_rules(monkeypatch, capsys):
    host = FakeHost()
    run_module(host, monkeypatch, capsys, **FW_ARGS)
    iptables = dict((family, list(rules)) for family, rules in host.iptables.items())
    # Rules with the iptables backend's comment in firewalld's direct configuration are not firewalld's.
    host.direct['permanent'].append(('ipv4',) + spec(V4, 80, 'tcp'))
    result = run_module(host, monkeypatch, capsys, backend='firewalld', state='absent')
    assert result['changed'] is False and host.mutations() == []
    run_module(host, monkeypatch, capsys, backend='firewalld', **FW_ARGS)
    run_module(host, monkeypatch, capsys, backend='firewalld', state='absent')
    assert len([argv for argv in host.mutations() if '--remove-rule' in argv]) == 4
    assert host.iptables == iptables and host.direct == {'runtime': [], 'permanent': [('ipv4',) + spec(V4, 80, 'tcp')]}


# --- the engine reports, the module speaks ------------------------------------------------------------

def test_engine_refuses_and_warns_without_the_module():
    class NoModule(object):
        """A module that has nothing but get_bin_path: the engine must not reach it."""

    host = FakeHost(markers=('/etc/debian_version',))
    system = FakeSystem(NoModule(), host)
    params = dict(backend='iptables', state='present', persist=True, vip=[V4], ports=[80], protocols=None)
    engine = RedirectEngine(system, params, check_mode=True)
    engine.validate()
    plan = Plan(True)
    before, after, result = engine.run(plan)
    plan.execute()
    assert plan.changed and host.mutations() == [] and host.writes == []
    assert after == {'runtime': ['ipv4 tcp %s port 80' % V4], 'persistent': ['ipv4 tcp %s port 80' % V4]}
    assert len(engine.warnings) == 1 and 'netfilter-persistent.service is not enabled' in engine.warnings[0]

    with pytest.raises(Refusal) as refused:
        RedirectEngine(system, dict(params, vip=[])).validate()
    assert refused.value.msg.startswith('vip is an empty list')
    host.probe_rc = 2
    with pytest.raises(Refusal) as refused:
        engine.run(Plan(True))
    assert refused.value.details['rc'] == 2 and refused.value.msg.startswith('Cannot probe for the rule')
