"""Proof 4, bad input: malformed or dangerous input to every module and both roles fails with a
clear message and leaves the host as it was.

One generated playbook runs every case in a block/rescue of its own and records the failure
message; after every case the host's snapshot (tests/reliability/snapshot.py) is taken by the
same play, so a case that changed the host is named, not just detected. Python asserts the
rest: every case failed, its message has the expected phrase, no snapshot moved."""
import copy
import json
import os
import sys
import tempfile

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from lab_fixture import lab_up  # noqa: E402
import snapshot  # noqa: E402


class NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


LAB_NAME = os.environ.get('LVSDR_REL_BAD_LAB', 'rel-bad')


def realserver_cases(v):
    """(id, kind, args, phrase) on rs1. kind: a module, or 'role' (lvs.dr.lvs_dr_realserver)."""
    vip4, vip6 = v['vip4'], v['vip6']
    return [
        # lvs_vip
        ('vip-not-an-address', 'lvs_vip', {'vip': ['300.1.2.3']}, 'is not a valid IPv4 or IPv6 address'),
        ('vip-shell-metachar', 'lvs_vip', {'vip': ['%s;reboot' % vip4]}, 'is not a valid IPv4 or IPv6 address'),
        ('vip-command-subst', 'lvs_vip', {'vip': ['$(reboot)']}, 'is not a valid IPv4 or IPv6 address'),
        ('vip4-wide-prefix-on-lo', 'lvs_vip', {'vip': ['%s/24' % vip4]}, 'must be a host address (/32)'),
        ('vip6-wide-prefix-on-lo', 'lvs_vip', {'vip': ['%s/64' % vip6]}, 'must be a host address (/128)'),
        ('vip-prefix-too-long', 'lvs_vip', {'vip': ['%s/33' % vip4]}, 'is not a valid IPv4 or IPv6 address'),
        ('vip-loopback', 'lvs_vip', {'vip': ['127.0.0.2']}, 'is not usable as a virtual IP'),
        ('vip-multicast', 'lvs_vip', {'vip': ['224.0.0.18']}, 'is not usable as a virtual IP'),
        ('vip-link-local6', 'lvs_vip', {'vip': ['fe80::1']}, 'is not usable as a virtual IP'),
        ('vip-empty-list', 'lvs_vip', {'vip': []}, 'vip is an empty list'),
        ('vip-arp-interfaces-empty', 'lvs_vip', {'vip': [vip4], 'arp_interfaces': []}, 'arp_interfaces is an empty list'),
        ('vip-interface-space', 'lvs_vip', {'vip': [vip4], 'interface': 'eth0 x'}, 'is not a valid interface name'),
        ('vip-own-real-ip', 'lvs_vip', {'vip': [v['rs4']]}, "is this host's own address"),
        ('vip6-own-real-ip', 'lvs_vip', {'vip': [v['rs6']]}, "is this host's own address"),
        ('vip-prefix-adds-route', 'lvs_vip',
         {'vip': ['%s/1' % vip4], 'interface': 'eth0', 'require_arp_suppression': False}, 'its prefix adds a route'),
        ('vip-limited-broadcast', 'lvs_vip', {'vip': ['255.255.255.255']}, 'is not usable as a virtual IP'),
        ('vip-this-network', 'lvs_vip', {'vip': ['0.1.2.3']}, 'is not usable as a virtual IP'),
        ('vip-class-e', 'lvs_vip', {'vip': ['240.0.0.1']}, 'is not usable as a virtual IP'),
        ('vip6-mapped', 'lvs_vip', {'vip': ['::ffff:%s' % vip4]}, 'IPv4-mapped'),
        ('vip6-scoped', 'lvs_vip', {'vip': ['%s%%eth0' % vip6]}, 'scoped IPv6 address'),
        ('vip-persist-file-relative', 'lvs_vip', {'vip': [vip4], 'persist_file': 'etc/lvs-dr/vips'}, 'is refused'),
        ('vip-persist-file-percent', 'lvs_vip', {'vip': [vip4], 'persist_file': '/etc/lvs-dr/%n'}, 'is refused'),
        ('vip-persist-file-run', 'lvs_vip', {'vip': [vip4], 'persist_file': '/run/lvs-dr/vips.batch'},
         '/run is emptied at boot'),
        ('vip-persist-file-unit', 'lvs_vip', {'vip': [vip4], 'persist_file': '/etc/systemd/system/lvs-dr-vips.service'},
         "the VIPs' boot unit or its guard"),
        ('vip-conflicting-prefixes', 'lvs_vip', {'vip': ['%s/32' % vip4, '%s/28' % vip4], 'interface': 'eth0'},
         'Conflicting VIP definitions'),
        ('vip-interface-metachar', 'lvs_vip', {'vip': [vip4], 'interface': 'eth0;reboot'},
         'Interface eth0;reboot does not exist'),
        ('vip-interface-missing', 'lvs_vip', {'vip': [vip4], 'interface': 'eth9'}, 'Interface eth9 does not exist'),
        ('vip-arp-interfaces-metachar', 'lvs_vip', {'vip': [vip4], 'arp_interfaces': ['eth0 && reboot']},
         'is not a valid interface name'),
        ('vip-without-arp-suppression', 'lvs_vip', {'vip': [vip4]}, 'lvs_arp_suppress'),
        ('vip6-on-eth0', 'lvs_vip', {'vip': [vip6], 'interface': 'eth0'}, 'neighbour discovery answers for it'),
        ('vip-unknown-state', 'lvs_vip', {'vip': [vip4], 'state': 'maybe'}, 'value of state must be one of'),
        ('vip-unknown-option', 'lvs_vip', {'vip': [vip4], 'label': 'x'}, 'Unsupported parameters'),
        # lvs_arp_suppress
        ('arp-unknown-method', 'lvs_arp_suppress', {'method': 'nftables'}, 'value of method must be one of'),
        ('arp-ignore-out-of-range', 'lvs_arp_suppress', {'arp_ignore': 5}, 'value of arp_ignore must be one of'),
        ('arp-announce-out-of-range', 'lvs_arp_suppress', {'arp_announce': 7}, 'value of arp_announce must be one of'),
        ('arp-ignore-not-int', 'lvs_arp_suppress', {'arp_ignore': 'one'}, 'arp_ignore'),
        ('arp-interfaces-metachar', 'lvs_arp_suppress', {'interfaces': ['eth0;reboot']}, 'eth0;reboot does not exist'),
        ('arp-interfaces-missing', 'lvs_arp_suppress', {'interfaces': ['eth9']}, 'eth9 does not exist'),
        ('arp-interfaces-empty', 'lvs_arp_suppress', {'interfaces': []}, 'interfaces is an empty list'),
        ('arp-ignore-8-all', 'lvs_arp_suppress', {'arp_ignore': 8}, 'arp_ignore 8 (never reply) on all'),
        ('arp-ignore-8-default', 'lvs_arp_suppress', {'arp_ignore': 8, 'interfaces': ['default']},
         'never reply) on default'),
        ('arp-ignore-8-eth0', 'lvs_arp_suppress', {'arp_ignore': 8, 'interfaces': ['eth0']}, 'never reply) on eth0'),
        ('arp-sysctl-file-not-sysctl-d', 'lvs_arp_suppress', {'sysctl_file': '/etc/lvs-dr/arp.conf'},
         'is not in a directory its reader reads'),
        ('arp-sysctl-file-no-conf', 'lvs_arp_suppress', {'sysctl_file': '/etc/sysctl.d/90-lvs-dr-arp'},
         'does not end in .conf'),
        ('arp-sysctl-file-newline', 'lvs_arp_suppress', {'sysctl_file': '/etc/sysctl.d/x\nExecStartPre=/bin/sh.conf'},
         'is refused'),
        ('arp-real-ip-gateway', 'lvs_arp_suppress', {'method': 'arptables', 'vip': [vip4], 'real_ip': v['gw4']},
         'is not an IPv4 address this host holds'),
        ('arp-vip-is-real-ip', 'lvs_arp_suppress', {'method': 'arptables', 'vip': [v['rs4']]},
         'that lvs.dr.lvs_vip did not add'),
        ('arp-sysctl-with-vip', 'lvs_arp_suppress', {'method': 'sysctl', 'vip': [vip4]},
         'only with method=arptables'),
        ('arp-arptables-without-vip', 'lvs_arp_suppress', {'method': 'arptables'}, 'missing: vip'),
        ('arp-arptables-ipv6-vip', 'lvs_arp_suppress', {'method': 'arptables', 'vip': [vip6]}, 'IPv6 has no ARP'),
        ('arp-arptables-vip-prefix', 'lvs_arp_suppress', {'method': 'arptables', 'vip': ['%s/24' % vip4]},
         'arptables rules match single addresses'),
        ('arp-arptables-bad-real-ip', 'lvs_arp_suppress', {'method': 'arptables', 'vip': [vip4], 'real_ip': '10.0.0'},
         'is not a valid IPv4'),
        ('arp-arptables-real-ip-is-vip', 'lvs_arp_suppress', {'method': 'arptables', 'vip': [vip4], 'real_ip': vip4},
         "must be the real server's own unicast address"),
        ('arp-arptables-interface-metachar', 'lvs_arp_suppress',
         {'method': 'arptables', 'vip': [vip4], 'interface': 'eth0`reboot`'}, 'does not exist'),
        ('arp-sysctl-file-foreign', 'lvs_arp_suppress', {'sysctl_file': '/etc/sysctl.d/99-sysctl.conf'},
         'was not written by'),
        # lvs_redirect
        ('redirect-unknown-backend', 'lvs_redirect', {'backend': 'nftables', 'vip': [vip4], 'ports': [80]},
         'value of backend must be one of'),
        ('redirect-port-zero', 'lvs_redirect', {'backend': 'iptables', 'vip': [vip4], 'ports': [0]}, 'out of range'),
        ('redirect-port-too-big', 'lvs_redirect', {'backend': 'iptables', 'vip': [vip4], 'ports': [65536]},
         'out of range'),
        ('redirect-port-not-int', 'lvs_redirect', {'backend': 'iptables', 'vip': [vip4], 'ports': ['http']},
         'ports'),
        ('redirect-unknown-protocol', 'lvs_redirect',
         {'backend': 'iptables', 'vip': [vip4], 'ports': [80], 'protocols': ['icmp']},
         'value of protocols must be one or more of'),
        ('redirect-vip-prefix', 'lvs_redirect', {'backend': 'iptables', 'vip': ['%s/24' % vip4], 'ports': [80]},
         'a REDIRECT rule matches a single destination address'),
        ('redirect-vip-metachar', 'lvs_redirect', {'backend': 'iptables', 'vip': ['%s -j ACCEPT' % vip4],
                                                   'ports': [80]}, 'is not a valid IPv4 or IPv6 address'),
        ('redirect-empty-vip', 'lvs_redirect', {'backend': 'iptables', 'vip': [], 'ports': [80]},
         'vip is an empty list'),
        ('redirect-empty-ports', 'lvs_redirect', {'backend': 'iptables', 'vip': [vip4], 'ports': []},
         'ports is an empty list'),
        ('redirect-empty-protocols', 'lvs_redirect',
         {'backend': 'iptables', 'vip': [vip4], 'ports': [80], 'protocols': []}, 'protocols is an empty list'),
        ('redirect-empty-vip-absent', 'lvs_redirect', {'backend': 'iptables', 'vip': [], 'state': 'absent'},
         'with state absent it would match no rule'),
        ('redirect-port-bool', 'lvs_redirect', {'backend': 'iptables', 'vip': [vip4], 'ports': [True]},
         'is not a port number'),
        ('redirect-vip6-ipv4-compatible', 'lvs_redirect', {'backend': 'iptables', 'vip': ['::192.0.2.1'], 'ports': [80]},
         'ip6tables would print this address as'),
        ('redirect-vip-broadcast', 'lvs_redirect', {'backend': 'iptables', 'vip': ['255.255.255.255'], 'ports': [80]},
         'is not usable as a virtual IP'),
        ('realserver-arp-ignore-8', 'lvs_realserver', {'vip': [vip4], 'arp_ignore': 8},
         'arp_ignore 8 (never reply) on all'),
        ('realserver-port-bool', 'lvs_realserver', {'vip': [vip4], 'services': [{'port': True}]}, 'is not a number'),
        ('redirect-without-ports', 'lvs_redirect', {'backend': 'iptables', 'vip': [vip4]}, 'missing: ports'),
        ('redirect-firewalld-not-running', 'lvs_redirect', {'backend': 'firewalld', 'vip': [vip4], 'ports': [80]},
         'firewalld is not running'),
        # the role (argument spec first, then the modules; nothing may change before the failure)
        ('role-unknown-method', 'role', {'lvs_dr_realserver_method': 'ipvs'},
         'value of lvs_dr_realserver_method must be one of'),
        ('role-unknown-state', 'role', {'lvs_dr_realserver_state': 'gone'}, 'lvs_dr_realserver_state'),
        ('role-weight-not-int', 'role', {'lvs_dr_realserver_weight': 'heavy'}, 'lvs_dr_realserver_weight'),
        ('role-service-protocol', 'role', {'lvs_dr_realserver_services': [{'port': 80, 'protocol': 'sctp'}]},
         'must be one of'),
        ('role-iptables-port-out-of-range', 'role',
         {'lvs_dr_realserver_method': 'iptables', 'lvs_dr_realserver_services': [{'port': 70000, 'protocol': 'tcp'}]},
         'out of range'),
        ('role-arptables-interface-metachar', 'role',
         {'lvs_dr_realserver_method': 'arptables', 'lvs_dr_realserver_real_ip': '',
          'lvs_dr_realserver_interface': 'eth0;reboot'}, 'does not exist'),
        ('role-sysctl-scope-metachar', 'role', {'lvs_dr_realserver_sysctl_scope': ['all', 'eth0;reboot']},
         'does not exist'),
        ('role-sysctl-bad-vip', 'role', {'lvs_dr_realserver_vips': ['not-an-ip']},
         'is not a valid IPv4 or IPv6 address'),
        ('role-sysctl-wide-vip', 'role', {'lvs_dr_realserver_vips': ['%s/24' % vip4]}, 'must be a host address'),
        ('role-sysctl-vip-interface-metachar', 'role', {'lvs_dr_realserver_vip_interface': 'lo;reboot'},
         'does not exist'),
        ('role-conflicting-vips', 'role',
         {'lvs_dr_realserver_method': 'arptables', 'lvs_dr_realserver_vip_interface': 'eth0',
          'lvs_dr_realserver_vips': ['%s/32' % vip4, '%s/28' % vip4]}, 'Conflicting VIP definitions'),
    ]


def serving_cases(v):
    """(id, kind, args, phrase) on rs1 while it serves the VIPs (the role converged with the base variables):
    what would take a running site down or steal it must be refused with the host as it was."""
    vip4 = v['vip4']
    return [
        ('serving-role-empty-vips', 'role', {'lvs_dr_realserver_vips': []}, 'vip is an empty list'),
        ('serving-realserver-empty-vip', 'lvs_realserver', {'vip': []}, 'vip is an empty list'),
        # Refused by lvs_realserver's own check or by the sysctl step's (held VIPs), both before any change.
        ('serving-role-announce-1', 'role', {'lvs_dr_realserver_arp_announce': 1}, 'unsuppressed on eth0'),
        ('serving-role-scope-lo', 'role', {'lvs_dr_realserver_sysctl_scope': ['lo']}, 'unsuppressed on eth0'),
        ('serving-vip-persist-file-foreign-absent', 'lvs_vip', {'state': 'absent', 'persist_file': '/etc/fstab'},
         'was not written by'),
        ('serving-vip-persist-file-foreign-present', 'lvs_vip', {'vip': [vip4], 'persist_file': '/etc/hosts'},
         'was not written by'),
        ('serving-role-arp-ignore-8', 'role', {'lvs_dr_realserver_arp_ignore': 8}, 'arp_ignore 8 (never reply) on all'),
        ('serving-arp-absent-sysctl', 'lvs_arp_suppress', {'state': 'absent'},
         'would leave ARP unsuppressed for VIPs that lvs.dr.lvs_vip holds'),
        ('serving-arp-announce-1', 'lvs_arp_suppress', {'arp_announce': 1}, 'would leave ARP unsuppressed'),
        ('serving-arp-scope-lo', 'lvs_arp_suppress', {'interfaces': ['lo']}, 'would leave ARP unsuppressed'),
        ('serving-vip-persist-file-newline', 'lvs_vip',
         {'vip': [vip4], 'persist_file': '/etc/lvs-dr/x\nExecStartPre=/bin/touch /tmp/pwned'}, 'is refused'),
    ]


def director_cases(v):
    vip4, vip6 = v['vip4'], v['vip6']

    def vi(**kw):
        base = copy.deepcopy(v['director']['keepalived_director_vrrp_instances'][0])
        base.update(kw)
        return {'keepalived_director_vrrp_instances': [base]}

    def vs(**kw):
        base = copy.deepcopy(v['director']['keepalived_director_virtual_servers'][0])
        base.update(kw)
        return {'keepalived_director_virtual_servers': [base]}

    script = {'keepalived_director_vrrp_scripts': [{'name': 'chk_missing', 'script': '/usr/local/bin/lvsdr-no-such-check'}]}
    return [
        ('dir-unknown-state', 'role', {'keepalived_director_state': 'gone'}, 'keepalived_director_state'),
        ('dir-vrid-out-of-range', 'role', vi(virtual_router_id=300), 'virtual_router_id 300 is out of range 1..255'),
        ('dir-priority-zero', 'role', vi(priority=0), 'priority 0 is out of range 1..255'),
        ('dir-vip-not-an-address', 'role', vi(virtual_ipaddress=['192.0.2.300/32 dev vec0']),
         'does not start with an IPv4 or IPv6 address'),
        ('dir-vip-bad-prefix', 'role', vi(virtual_ipaddress=['%s/40 dev vec0' % vip4]), 'has an invalid prefix length'),
        ('dir-vip-mixed-families', 'role', vi(virtual_ipaddress=['%s/32' % vip4, '%s/128' % vip6]),
         'mixes IPv4 and IPv6'),
        ('dir-conflicting-vrid', 'role',
         {'keepalived_director_vrrp_instances': vi()['keepalived_director_vrrp_instances']
          + vi(name='VI_2')['keepalived_director_vrrp_instances']}, 'is already used on interface'),
        ('dir-track-script-undefined', 'role', vi(track_script=['chk_nothing']),
         'is not defined in keepalived_director_vrrp_scripts'),
        ('dir-port-out-of-range', 'role', vs(port=70000), 'port 70000 is out of range 1..65535'),
        ('dir-vs-ip-not-an-address', 'role', vs(ip='%s;reboot' % vip4), 'is not an IPv4 or IPv6 address'),
        ('dir-rs-wrong-family', 'role', vs(real_servers=[{'ip': v['rs6'], 'port': 80}]),
         "is not of the virtual server's address family"),
        ('dir-unknown-lb-kind', 'role', vs(lb_kind='DRX'), 'lb_kind'),
        ('dir-group-missing', 'role', vs(real_servers=[], real_servers_group='no_such_group'),
         'is not an inventory group'),
        ('dir-duplicate-vs', 'role',
         {'keepalived_director_virtual_servers': vs()['keepalived_director_virtual_servers'] * 2},
         'the same virtual server is defined more than once'),
        # keepalived -t (the template's validate) catches what only keepalived knows. no_log false:
        # with the default (true) the reason is hidden, see the test below.
        ('dir-track-script-file-missing', 'role',
         dict(script, keepalived_director_no_log=False, **vi(track_script=['chk_missing'])),
         'Disabling track script chk_missing since not found'),
        ('dir-extra-unknown-keyword', 'role',
         dict(keepalived_director_no_log=False, **vs(extra=['no_such_keyword 1'])),
         "Unknown keyword 'no_such_keyword'"),
        ('dir-interface-metachar', 'role', dict(keepalived_director_no_log=False, **vi(interface='vec0;reboot')),
         "interface vec0;reboot for vrrp_instance VI_1 doesn't exist"),
        # The same with the role's default keepalived_director_no_log: true: the failure is recorded
        # with its reason, but the console shows only Ansible's 'output has been hidden' notice.
        ('dir-validate-fails-default-no-log', 'role', vi(interface='vec0;reboot'), "doesn't exist"),
    ]


def lab_values(lab):
    rs1 = lab.hosts['rs1']
    v = {'vip4': lab.vars['lab_vip4'], 'vip6': lab.vars['lab_vip6'], 'rs4': rs1['lab_ipv4'], 'rs6': rs1['lab_ipv6'],
         'gw4': lab.vars['lab_gateway4']}
    v['realserver'] = {
        'lvs_dr_realserver_method': 'sysctl',
        'lvs_dr_realserver_vips': [v['vip4'], v['vip6']],
        'lvs_dr_realserver_services': [{'port': 80, 'protocol': 'tcp'}, {'port': 9999, 'protocol': 'udp'}],
        'lvs_dr_realserver_real_ip': v['rs4'],
        'lvs_dr_realserver_install_packages': False,
    }
    v['director'] = {
        'keepalived_director_manage_packages': False,
        'keepalived_director_vrrp_instances': [{
            'name': 'VI_1', 'interface': 'vec0', 'virtual_router_id': 51, 'state': 'MASTER', 'priority': 150,
            'advert_int': 1, 'virtual_ipaddress': ['%s/32 dev vec0' % v['vip4']]}],
        'keepalived_director_virtual_servers': [{
            'ip': v['vip4'], 'port': 80, 'protocol': 'TCP', 'lb_algo': 'rr', 'lb_kind': 'DR', 'delay_loop': 3,
            'real_servers': [{'ip': v['rs4'], 'port': 80}],
            'checks': [{'type': 'TCP_CHECK', 'connect_port': 80, 'connect_timeout': 2}]}],
    }
    return v


def case_task(kind, args, base, role):
    if kind == 'role':
        merged = dict(base)
        merged.update(args)
        return {'name': 'run the role', 'ansible.builtin.include_role': {'name': role}, 'vars': merged}
    return {'name': 'run the module', 'lvs.dr.' + kind: args}


# What the operator reads of a failure: the message, keepalived's stderr (template validate),
# the failed items of a loop, or the censored notice of a no_log task.
_FAILURE_TEXT = (
    "[ansible_failed_result.censored | default(''), "
    "(ansible_failed_result.msg | default('')) if (ansible_failed_result.msg | default('')) is string "
    "else (ansible_failed_result.msg | to_json), "
    "ansible_failed_result.stderr | default(''), "
    "ansible_failed_result.results | default([]) | selectattr('failed', 'defined') | selectattr('failed') "
    "| map(attribute='msg') | join(' ')] | select | join(' | ')")


def record(case_id, failed):
    entry = ("{'failed': true, 'task': ansible_failed_task.name | default(''), 'msg': %s}" % _FAILURE_TEXT
             if failed else "{'failed': false}")
    return {'name': 'record %s' % case_id, 'ansible.builtin.set_fact': {
        '__results': "{{ __results | combine({%s: %s}) }}" % (json.dumps(case_id), entry)}}


def play(host, kind, cases, base, role, out, serving=False):
    """One block/rescue per case, a snapshot after each (raw: no Python on the host, fast on
    UML). A case that changed the host is followed by the role's removal (state=absent), so the
    next case starts from the baseline again; the change itself is still recorded.
    serving: the baseline is the host converged by the role with base; a changed host is converged
    again, the host's own ARP is asked from the segment after the cases, and the role removes
    everything at the end."""
    script = snapshot.SCRIPTS[kind]
    assert '{{' not in script and '{%' not in script and '{#' not in script
    snap = {'name': 'snapshot', 'ansible.builtin.raw': script, 'args': {'executable': '/bin/sh'},
            'register': '__snap', 'changed_when': False, 'retries': 3, 'delay': 1, 'until': '__snap.rc == 0'}
    absent = {'lvs_dr_realserver_state': 'absent'} if kind == 'realserver' else {'keepalived_director_state': 'absent'}
    reset = dict(case_task('role', {} if serving else absent, base, role), when='__snap.stdout != __snaps.baseline')

    def keep(name):
        return {'name': 'keep snapshot %s' % name, 'ansible.builtin.set_fact': {
            '__snaps': "{{ __snaps | combine({%s: __snap.stdout}) }}" % json.dumps(name)}}

    tasks = [{'ansible.builtin.set_fact': {'__results': {}, '__snaps': {}}}]
    if serving:
        tasks.append(case_task('role', {}, base, role))
    tasks.extend([snap, keep('baseline')])
    for case_id, case_kind, args, dummy in cases:
        tasks.append({'name': 'case %s' % case_id,
                      'block': [case_task(case_kind, args, base, role), record(case_id, False)],
                      'rescue': [record(case_id, True)]})
        tasks.extend([snap, keep(case_id), reset])
    tasks.extend([snap, keep('end')])
    if serving:
        # The segment still reaches the host: ARP for its own address is answered (from the lab's bridge).
        tasks.extend([{'name': 'ask for the real server\'s own address from the segment', 'ansible.builtin.command': {
            'argv': ['arping', '-c', '3', '-w', '5', '-I', '{{ lab_bridge }}', '{{ lab_ipv4 }}']},
            'delegate_to': 'localhost', 'register': '__arping', 'changed_when': False, 'failed_when': False},
            {'ansible.builtin.set_fact': {'__results': "{{ __results | combine({'own-arp': __arping.stdout}) }}"}},
            case_task('role', absent, base, role)])
    tasks.append({'name': 'write the results', 'ansible.builtin.copy': {
        'content': "{{ {'results': __results, 'snaps': __snaps} | to_json }}", 'dest': out},
        'delegate_to': 'localhost'})
    return {'name': 'bad input on %s' % host, 'hosts': host, 'gather_facts': False, 'tasks': tasks}


def control_play(host, base, role):
    """Positive control: the base variables pass the role, in check mode (handlers too)."""
    return {'name': 'control on %s' % host, 'hosts': host, 'gather_facts': False, 'check_mode': True,
            'tasks': [case_task('role', {}, base, role)]}


@pytest.fixture(scope='module')
def outcome():
    with lab_up(LAB_NAME, '--realservers', '1', '--directors', '1', '--no-client') as lab:
        v = lab_values(lab)
        tmp = tempfile.mkdtemp(prefix='rel-bad-')
        plays = [control_play('rs1', v['realserver'], 'lvs.dr.lvs_dr_realserver'),
                 control_play('dir1', v['director'], 'lvs.dr.keepalived_director'),
                 play('rs1', 'realserver', serving_cases(v), v['realserver'], 'lvs.dr.lvs_dr_realserver',
                      os.path.join(tmp, 'rs1-serving.json'), serving=True),
                 play('rs1', 'realserver', realserver_cases(v), v['realserver'], 'lvs.dr.lvs_dr_realserver',
                      os.path.join(tmp, 'rs1.json')),
                 play('dir1', 'director', director_cases(v), v['director'], 'lvs.dr.keepalived_director',
                      os.path.join(tmp, 'dir1.json'))]
        path = os.path.join(tmp, 'test_bad_input.yml')
        with open(path, 'w') as f:
            yaml.dump(plays, f, Dumper=NoAliases, sort_keys=False, width=1000)
        run = lab.playbook(path)
        assert run.returncode == 0, run.stdout[-8000:]
        data = {}
        for host in ('rs1-serving', 'rs1', 'dir1'):
            with open(os.path.join(tmp, host + '.json')) as f:
                data[host] = json.load(f)
        yield {'lab': lab, 'v': v, 'data': data, 'log': run.stdout}


def _table():
    """The case table with placeholder addresses, for parametrisation before the lab exists."""
    class FakeLab(object):
        vars = {'lab_vip4': '@vip4', 'lab_vip6': '@vip6', 'lab_gateway4': '@gw4'}
        hosts = {'rs1': {'lab_ipv4': '@rs4', 'lab_ipv6': '@rs6'}}
    v = lab_values(FakeLab())
    return [('rs1-serving',) + c[:1] + c[3:] for c in serving_cases(v)] + \
           [('rs1',) + c[:1] + c[3:] for c in realserver_cases(v)] + \
           [('dir1',) + c[:1] + c[3:] for c in director_cases(v)]


TABLE = _table()


def test_table_is_large_enough():
    assert len(TABLE) >= 30
    assert len(set(c[1] for c in TABLE)) == len(TABLE), 'case ids must be unique'


@pytest.mark.parametrize('host,case_id,phrase', [pytest.param(*c, id=c[1]) for c in TABLE])
def test_case_fails_clearly_and_changes_nothing(outcome, host, case_id, phrase):
    data = outcome['data'][host]
    result = data['results'][case_id]
    assert result['failed'], '%s was accepted' % case_id
    assert phrase in result['msg'], 'message lacks %r: %s' % (phrase, result['msg'])
    before, after = snapshot.parse(data['snaps']['baseline']), snapshot.parse(data['snaps'][case_id])
    snapshot.assert_same(before, after, 'after case %s' % case_id)


def test_serving_host_still_answers_arp_for_its_own_address(outcome):
    reply = outcome['data']['rs1-serving']['results']['own-arp']
    assert 'Unicast reply from %s' % outcome['v']['rs4'] in reply, reply


@pytest.mark.parametrize('host', ['rs1-serving', 'rs1', 'dir1'])
def test_host_unchanged_after_all_cases(outcome, host):
    data = outcome['data'][host]
    snapshot.assert_same(snapshot.parse(data['snaps']['baseline']), snapshot.parse(data['snaps']['end']),
                         'after all cases')
    if host == 'rs1-serving':
        return  # the role removed everything after the cases; the next play's baseline is that state
    now = snapshot.take(outcome['lab'], host)
    snapshot.assert_same(snapshot.parse(data['snaps']['baseline']), now, 'at the end')
