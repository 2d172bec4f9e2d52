# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The keepalived filters: resolution of real servers, every problem they report, and the text
they render (the expected text of the rich case was produced by the role's former Jinja
template from the same variables)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import gc
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.lvs.dr.plugins.filter import keepalived
from ansible_collections.lvs.dr.plugins.filter.keepalived import (
    FilterModule, keepalived_virtual_server_blocks, keepalived_virtual_servers)

COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), *(['..'] * 4 + ['.cache', 'collections']))


VS = 'keepalived_director_virtual_servers[0] ([198.51.100.10]:80)'
GROUPS = {'web': ['rs-c', 'rs-a', 'rs-b', '198.51.100.24'], 'empty': [], 'named': ['rs-d.example.com']}
HOSTVARS = {
    'rs-a': {'ansible_host': '198.51.100.21', 'lvs_real_ip6': '2001:db8::21'},
    'rs-b': {'lvs_dr_realserver_real_ip': '198.51.100.22', 'lvs_dr_realserver_weight': 0,
             'ansible_host': '10.0.0.22', 'lvs_real_ip6': '2001:db8::22'},
    'rs-c': {'lvs_dr_realserver_real_ip': '198.51.100.23', 'lvs_dr_realserver_weight': 5,
             'lvs_real_ip6': '2001:db8::23'},
    '198.51.100.24': {'lvs_real_ip6': '2001:db8::24'},
    'rs-d.example.com': {},
}


def resolve(virtual_servers, **kwargs):
    kwargs.setdefault('groups', GROUPS)
    kwargs.setdefault('hostvars', HOSTVARS)
    return keepalived_virtual_servers(virtual_servers, **kwargs)


def errors(virtual_servers=None, **kwargs):
    return resolve(virtual_servers or [], **kwargs)['errors']


def vs(**keys):
    """One valid virtual server, keys changed."""
    base = {'ip': '198.51.100.10', 'port': 80, 'real_servers': [{'ip': '198.51.100.21'}]}
    base.update(keys)
    return base


def test_filter_names():
    assert sorted(FilterModule().filters()) == ['keepalived_virtual_server_blocks', 'keepalived_virtual_servers']


# ------------------------------------------------------------------------------------------------
# Resolution
# ------------------------------------------------------------------------------------------------
def test_static_real_servers_then_group_members_sorted_by_name():
    result = resolve([vs(real_servers_group='web', inhibit_on_failure=True,
                         checks=[{'type': 'TCP_CHECK'}],
                         real_servers=[{'ip': '198.51.100.30', 'weight': 5},
                                       {'ip': '198.51.100.24', 'weight': 7, 'checks': [], 'extra': ['x']}])])
    assert result['errors'] == []
    servers = result['virtual_servers'][0]['real_servers']
    assert [(rs['ip'], rs['port'], rs['weight']) for rs in servers] == [
        ('198.51.100.30', 80, 5),
        ('198.51.100.24', 80, 7),   # the static entry replaced the group member 198.51.100.24
        ('198.51.100.21', 80, 1),   # rs-a: ansible_host
        ('198.51.100.22', 80, 0),   # rs-b: lvs_dr_realserver_real_ip, weight 0 drains
        ('198.51.100.23', 80, 5),   # rs-c
    ]
    assert [rs['origin'] for rs in servers] == [
        'real_servers[0]', 'real_servers[1]',
        'host rs-a of group web (address from ansible_host)',
        'host rs-b of group web (address from lvs_dr_realserver_real_ip)',
        'host rs-c of group web (address from lvs_dr_realserver_real_ip)',
    ]
    assert servers[0]['checks'] == [{'type': 'TCP_CHECK'}] and servers[1]['checks'] == []
    assert all(rs['inhibit_on_failure'] is True for rs in servers)
    assert servers[1]['extra'] == ['x'] and servers[2]['extra'] == []
    assert servers[0]['notify_up'] == '' and servers[0]['notify_down'] == ''


def test_group_member_address_from_inventory_name_and_other_variable():
    result = resolve([vs(real_servers_group='named', real_servers=[])])
    assert result['virtual_servers'][0]['real_servers'][0]['origin'] == (
        'host rs-d.example.com of group named (address from inventory_hostname)')
    result = resolve([vs(ip='2001:db8::10', real_servers_group='web', real_server_ip_var='lvs_real_ip6',
                         real_servers=[])])
    assert result['errors'] == []
    assert [rs['ip'] for rs in result['virtual_servers'][0]['real_servers']] == [
        '2001:db8::24', '2001:db8::21', '2001:db8::22', '2001:db8::23']
    result = resolve([vs(real_servers_group='web', real_servers=[])], real_ip_var='lvs_real_ip6')
    assert result['virtual_servers'][0]['real_servers'][0]['ip'] == '2001:db8::24'


def test_real_server_port_and_fwmark_ports():
    nat = vs(lb_kind='NAT', real_server_port=8080,
             real_servers=[{'ip': '198.51.100.21'}, {'ip': '198.51.100.22', 'port': 81}])
    fwmark = {'fwmark': 7, 'real_servers': [
        {'ip': '198.51.100.21', 'checks': [{'type': 'MISC_CHECK', 'misc_path': '/bin/true'}]}]}
    result = resolve([nat, fwmark])
    assert result['errors'] == []
    first, fwmark = result['virtual_servers']
    assert [rs['port'] for rs in first['real_servers']] == [8080, 81]
    assert fwmark['real_servers'][0]['port'] is None
    assert fwmark['origin'] == 'keepalived_director_virtual_servers[1] (fwmark 7)'
    assert first['origin'] == VS and first['group_missing'] is False


def test_input_is_not_modified():
    data = [vs(real_servers_group='web', checks=[{'type': 'TCP_CHECK'}])]
    before = copy.deepcopy(data)
    resolve(data)
    keepalived_virtual_server_blocks(data, groups=GROUPS, hostvars=HOSTVARS)
    assert data == before


# ------------------------------------------------------------------------------------------------
# Problems: one message per problem, naming variable, index and key
# ------------------------------------------------------------------------------------------------
VS_PROBLEMS = [
    # ranges and addresses
    (vs(port=0), VS.replace(':80', ':0') + ': port 0 is out of range 1..65535'),
    (vs(port=70000), 'port 70000 is out of range 1..65535'),
    (vs(ip='198.51.100.300'), "ip '198.51.100.300' is not an IPv4 or IPv6 address"),
    (vs(ip='198.51.100.10/32'), "ip '198.51.100.10/32' is not an IPv4 or IPv6 address"),
    (vs(ip='fe80::1%eth0'), "ip 'fe80::1%eth0' is not an IPv4 or IPv6 address"),
    (vs(real_servers=[{'ip': '2001:db8::g1'}]), "real_servers[0]: ip '2001:db8::g1' is not an IPv4 or IPv6 address"),
    (vs(real_servers=[{'ip': '2001:db8::21'}]),
     "real_servers[0]: ip 2001:db8::21 is not of the virtual server's address family"),
    (vs(lb_kind='NAT', real_servers=[{'ip': '198.51.100.21', 'port': 70000}]),
     'real_servers[0]: port 70000 is out of range 1..65535'),
    (vs(real_server_port=8080), 'real_servers[0]: port 8080 differs from the virtual server port 80; '
                                'lb_kind DR cannot translate ports'),
    (vs(real_server_port=0), 'real_server_port 0 is out of range 1..65535'),
    (vs(real_servers=[{'ip': '198.51.100.21', 'weight': 70000}]),
     'real_servers[0]: weight 70000 is out of range 0..65535'),
    (vs(delay_loop=0), 'delay_loop 0 is out of range 1..4294967295'),
    (vs(quorum=0), 'quorum 0 is out of range 1..4294967295'),
    (vs(sorry_server={'ip': 'sorry', 'port': 0}), "sorry_server ip 'sorry' is not an IPv4 or IPv6 address"),
    (vs(sorry_server={'ip': '198.51.100.99', 'port': 0}), 'sorry_server port 0 is out of range 1..65535'),
    ({'fwmark': 0, 'real_servers': [{'ip': '198.51.100.21', 'port': 80}]},
     'keepalived_director_virtual_servers[0] (fwmark 0): fwmark 0 is out of range 1..4294967295'),
    # references and duplicates
    (vs(real_servers_group='no_such_group', real_servers=[]),
     'real_servers_group no_such_group is not an inventory group'),
    (vs(real_servers=[]), 'no real servers (real_servers is empty); keepalived rejects such a virtual server'),
    (vs(real_servers_group='empty', real_servers=[]),
     'no real servers (real_servers is empty and group empty has no hosts)'),
    (vs(real_servers_group='named', real_servers=[]),
     "host rs-d.example.com of group named (address from inventory_hostname): ip 'rs-d.example.com' is not "
     "an IPv4 or IPv6 address"),
    (vs(real_servers=[{'ip': '198.51.100.21'}, {'ip': '198.51.100.21', 'port': 80}]),
     'real_servers[1]: real server 198.51.100.21 port 80 is listed more than once'),
    # health checks: the virtual server's once, a real server's own with the real server
    (vs(checks=[{'type': 'TCP_CHECK', 'connect_ip': 'rs', 'connect_port': 0}],
        real_servers=[{'ip': '198.51.100.21'}, {'ip': '198.51.100.22'}]),
     VS + ": checks[0] (TCP_CHECK): connect_ip 'rs' is not an IPv4 or IPv6 address"),
    (vs(real_servers=[{'ip': '198.51.100.21', 'checks': [{'type': 'TCP_CHECK', 'bind_port': 0}]}]),
     VS + ': real_servers[0]: checks[0] (TCP_CHECK): bind_port 0 is out of range 1..65535'),
    ({'fwmark': 1, 'checks': [{'type': 'TCP_CHECK'}], 'real_servers': [{'ip': '198.51.100.21'}]},
     'keepalived_director_virtual_servers[0] (fwmark 1): checks[0] (TCP_CHECK): needs connect_port '
     '(the real servers of a fwmark virtual server have no port)'),
    # structure: what the role's argument spec checked before
    (vs(lb_kind='FOO'), VS + ': value of lb_kind must be one of: DR, NAT, TUN, got: FOO'),
    (vs(protocol='ICMP'), 'value of protocol must be one of: TCP, UDP, SCTP, got: ICMP'),
    (vs(fwmark=1), 'parameters are mutually exclusive: ip|fwmark'),
    ({'real_servers': [{'ip': '198.51.100.21'}]},
     'keepalived_director_virtual_servers[0] ([]:): one of the following is required: ip, fwmark'),
    ({'ip': '198.51.100.10', 'real_servers': [{'ip': '198.51.100.21'}]},
     'parameters are required together: ip, port'),
    (vs(checks=[{'type': 'MISC_CHECK'}]),
     VS + ': checks[0]: type is MISC_CHECK but all of the following are missing: misc_path'),
    (vs(real_servers=[{'ip': '198.51.100.21', 'checks': [{'type': 'HTTP_GET'}]}]),
     VS + ': real_servers[0]: checks[0]: type is HTTP_GET but all of the following are missing: urls'),
    (vs(real_servers=[{'ip': '198.51.100.21', 'checks': [{'type': 'HTTP_GET', 'urls': [{'status_code': 200}]}]}]),
     VS + ': real_servers[0]: checks[0]: urls[0]: missing required arguments: path'),
    (vs(real_servers=[{'port': 80}]), VS + ': real_servers[0]: missing required arguments: ip'),
    (vs(real_servers=[{'ip': '198.51.100.21', 'wieght': 2}]),
     VS + ': real_servers[0]: unsupported parameters: wieght (supported: checks, extra, inhibit_on_failure, ip, '
     'notify_down, notify_up, port, weight)'),
    (vs(port='http'), VS.replace(':80', ':http') + ': port must be a whole number, got http'),
    (vs(real_servers=[{'ip': '198.51.100.21', 'inhibit_on_failure': 'maybe'}]),
     'real_servers[0]: inhibit_on_failure must be a boolean, got maybe'),
    (vs(real_servers='198.51.100.21'), 'real_servers must be a list, got 198.51.100.21'),
    (vs(real_servers=['198.51.100.21']), 'real_servers must be a list of dictionaries'),
    (vs(extra='one line'), 'extra must be a list, got one line'),
    (vs(sorry_server={'ip': '198.51.100.99'}), 'sorry_server: missing required arguments: port'),
    (vs(checks=[{'type': 'SSL_GET', 'urls': [{'path': '/'}], 'http_protocol': '2'}]),
     'checks[0]: value of http_protocol must be one of: 1.0, 1.1, 1.0C, 1.0c, got: 2'),
]


@pytest.mark.parametrize('virtual_server, message', VS_PROBLEMS, ids=[m for dummy, m in VS_PROBLEMS])
def test_virtual_server_problem(virtual_server, message):
    found = errors([virtual_server])
    assert any(message in error for error in found), found


def test_problems_are_reported_once_each_and_all_at_once():
    found = errors([vs(port=0, lb_kind='FOO', checks=[{'type': 'TCP_CHECK', 'connect_ip': 'x'}],
                       real_servers=[{'ip': '198.51.100.21'}, {'ip': '198.51.100.22'}, {'ip': 'bad'}])])
    assert len(found) == len(set(found))
    assert len([e for e in found if 'connect_ip' in e]) == 1
    assert any('lb_kind' in e for e in found) and any('port 0' in e for e in found)
    assert any("ip 'bad'" in e for e in found)


def test_duplicate_virtual_servers():
    found = errors([vs(), vs(), vs(protocol='UDP'), {'fwmark': 1, 'real_servers': [{'ip': '198.51.100.21',
                                                                                    'port': 80}]},
                    {'fwmark': 1, 'real_servers': [{'ip': '198.51.100.22', 'port': 80}]}])
    assert found == [
        'keepalived_director_virtual_servers[1] ([198.51.100.10]:80): the same virtual server is defined more than once',
        'keepalived_director_virtual_servers[4] (fwmark 1): the same virtual server is defined more than once',
    ]


def test_valid_values_pass():
    assert errors([vs(port='80', real_servers=[{'ip': '198.51.100.21', 'weight': '0', 'port': '80',
                                                'inhibit_on_failure': 'yes'}]),
                   vs(ip='2001:db8::10', real_servers=[{'ip': '2001:db8::21'}]),
                   vs(ip='::ffff:198.51.100.10', port=443, real_servers=[{'ip': '::ffff:198.51.100.21'}]),
                   vs(port=8080, lb_kind='NAT', real_server_port=80, hysteresis=0,
                      checks=[{'type': 'HTTP_GET', 'urls': [{'path': '/', 'status_code': 200}],
                               'http_protocol': 1.1}])]) == []


@pytest.mark.parametrize('value', [{'ip': '198.51.100.10'}, 'text', 42])
def test_virtual_servers_not_a_list(value):
    assert errors(value) == ['keepalived_director_virtual_servers: must be a list of dictionaries, got %s' % value]


def test_virtual_server_not_a_dict():
    assert errors(['198.51.100.10:80']) == [
        'keepalived_director_virtual_servers[0]: must be a dictionary, got 198.51.100.10:80']


VI = 'keepalived_director_vrrp_instances[0] (VI_1)'


def vi(**keys):
    base = {'name': 'VI_1', 'interface': 'eth0', 'virtual_router_id': 51, 'virtual_ipaddress': ['198.51.100.10/32']}
    base.update(keys)
    return base


VRRP_PROBLEMS = [
    ({'vrrp_instances': [vi(virtual_router_id=300)]}, VI + ': virtual_router_id 300 is out of range 1..255'),
    ({'vrrp_instances': [vi(priority=0)]}, VI + ': priority 0 is out of range 1..255'),
    ({'vrrp_instances': [vi(advert_int=256)]}, VI + ': advert_int 256 is out of range 1..255'),
    ({'vrrp_instances': [vi(), vi(name='VI_2')]},
     'keepalived_director_vrrp_instances[1] (VI_2): virtual_router_id 51 is already used on interface eth0'),
    ({'vrrp_instances': [vi(), vi(virtual_router_id=52)]},
     'keepalived_director_vrrp_instances: name VI_1 is defined more than once'),
    ({'vrrp_instances': [vi(unicast_src_ip='peer-a')]}, VI + ": unicast_src_ip 'peer-a' is not an IPv4 or IPv6 address"),
    ({'vrrp_instances': [vi(unicast_peer=['peer-b'])]}, VI + ": unicast_peer 'peer-b' is not an IPv4 or IPv6 address"),
    ({'vrrp_instances': [vi(virtual_ipaddress=['198.51.100.10/33'])]},
     VI + ": virtual_ipaddress '198.51.100.10/33' has an invalid prefix length"),
    ({'vrrp_instances': [vi(virtual_ipaddress_excluded=['vip dev eth0'])]},
     VI + ": virtual_ipaddress_excluded 'vip dev eth0' does not start with an IPv4 or IPv6 address[/prefix]"),
    ({'vrrp_instances': [vi(virtual_ipaddress=['198.51.100.10/32/1'])]},
     "does not start with an IPv4 or IPv6 address[/prefix]"),
    ({'vrrp_instances': [vi(virtual_ipaddress=['198.51.100.10/32', '2001:db8::10/128 dev eth0'])]},
     VI + ': virtual_ipaddress mixes IPv4 and IPv6; put the other family in virtual_ipaddress_excluded'),
    ({'vrrp_instances': [vi(state='MASTER', nopreempt=True)]},
     VI + ': nopreempt needs state BACKUP (keepalived ignores it with MASTER)'),
    ({'vrrp_instances': [vi(state='MASTER', preempt_delay=10)]},
     VI + ': preempt_delay needs state BACKUP (keepalived ignores it with MASTER)'),
    ({'vrrp_instances': [vi(preempt_delay=1001)]}, VI + ': preempt_delay 1001 is out of range 0..1000'),
    ({'vrrp_instances': [vi(track_script=['chk_missing'])]},
     VI + ': track_script chk_missing is not defined in keepalived_director_vrrp_scripts'),
    ({'vrrp_instances': [vi(unicast_peer=['198.51.100.3'])], 'vrrp_strict': True},
     VI + ': keepalived_director_vrrp_strict forbids unicast_peer and authentication'),
    ({'vrrp_instances': [vi(authentication={'auth_pass': 'secret'})], 'vrrp_strict': 'yes'},
     VI + ': keepalived_director_vrrp_strict forbids unicast_peer and authentication'),
    ({'vrrp_scripts': [{'name': 'chk', 'script': '/bin/true'}, {'name': 'chk', 'script': '/bin/false'}]},
     'keepalived_director_vrrp_scripts: name chk is defined more than once'),
    ({'vrrp_instances': [vi()], 'vrrp_sync_groups': [{'name': 'SG', 'group': ['VI_1', 'VI_1']}]},
     'keepalived_director_vrrp_sync_groups[0] (SG): a sync group needs at least two VRRP instances'),
    ({'vrrp_instances': [vi()], 'vrrp_sync_groups': [{'name': 'SG', 'group': ['VI_1', 'VI_9']}]},
     'keepalived_director_vrrp_sync_groups[0] (SG): VI_9 is not a VRRP instance'),
    ({'vrrp_scripts': [{'name': 'chk', 'script': '/bin/true', 'weight': -20}],
      'vrrp_instances': [vi(track_script=['chk']), vi(name='VI_2', virtual_router_id=52)],
      'vrrp_sync_groups': [{'name': 'SG', 'group': ['VI_1', 'VI_2']}]},
     'keepalived_director_vrrp_sync_groups[0] (SG): VI_1 tracks chk, which has a weight; keepalived ignores it '
     'in a sync group unless sync_group_tracking_weight is true'),
]


@pytest.mark.parametrize('kwargs, message', VRRP_PROBLEMS, ids=[m for dummy, m in VRRP_PROBLEMS])
def test_vrrp_problem(kwargs, message):
    found = errors(**kwargs)
    assert any(message in error for error in found), found


def test_valid_vrrp_passes():
    assert errors(vrrp_scripts=[{'name': 'chk', 'script': '/bin/true', 'weight': -20}, {'name': 'plain'}],
                  vrrp_instances=[vi(state='MASTER', priority=150, unicast_src_ip='198.51.100.2',
                                     unicast_peer=['198.51.100.3'], track_script=['chk', 'plain'],
                                     virtual_ipaddress=['198.51.100.10/32 dev eth0', '198.51.100.11'],
                                     virtual_ipaddress_excluded=['2001:db8::10/128 dev eth0']),
                                  vi(name='VI_2', virtual_router_id=52, nopreempt=True, track_script=['plain']),
                                  vi(name='VI_3', interface='eth1', preempt_delay=0)],
                  vrrp_sync_groups=[{'name': 'SG', 'group': ['VI_1', 'VI_2'], 'sync_group_tracking_weight': True}]
                  ) == []


def test_vrrp_arguments_must_be_lists():
    with pytest.raises(AnsibleFilterError, match='vrrp_instances must be a list'):
        errors(vrrp_instances={'name': 'VI_1'})


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------
RICH = yaml.safe_load(textwrap.dedent('''
    - ip: 198.51.100.10
      port: 443
      protocol: TCP
      lb_algo: wrr
      lb_kind: DR
      delay_loop: 10
      persistence_timeout: 300
      persistence_granularity: 255.255.255.0
      virtualhost: www.example.com
      quorum: 2
      hysteresis: 0
      quorum_up: /usr/local/bin/quorum "up"
      quorum_down: /usr/local/bin/quorum down
      alpha: true
      omega: false
      ha_suspend: "yes"
      sorry_server: {ip: 198.51.100.99, port: 443}
      sorry_server_inhibit: true
      inhibit_on_failure: true
      extra: ["# vs extra line"]
      checks:
        - type: SSL_GET
          urls:
            - {path: /healthz, status_code: "200-299", digest: 0123456789abcdef, virtualhost: a.example.com}
            - {path: /ready}
          virtualhost: www.example.com
          http_protocol: "1.1"
          enable_sni: true
          connect_timeout: 3
          retry: 2
          delay_before_retry: 1
          delay_loop: 5
          warmup: 2
          extra: ["# check extra"]
      real_servers:
        - ip: 198.51.100.21
          weight: 3
          inhibit_on_failure: false
          notify_up: /bin/echo "rs up"
          notify_down: /bin/echo down
          extra: ["# rs extra"]
        - ip: 198.51.100.22
          weight: 0
          checks:
            - type: MISC_CHECK
              misc_path: /usr/local/bin/check "a b"
              misc_timeout: 5
              misc_dynamic: true
              user: nobody
              delay_loop: 3
            - type: HTTP_GET
              urls: [{path: /}]
              connect_ip: 198.51.100.122
              connect_port: 443
              bindto: 198.51.100.2
              bind_port: 40000
            - type: TCP_CHECK
        - ip: 198.51.100.23
          port: 443
    - fwmark: 7
      ip_family: inet6
      lb_algo: sh
      real_servers:
        - {ip: "2001:db8::21", checks: [{type: TCP_CHECK, connect_port: 80}]}
        - {ip: "2001:db8::22", port: 8080, checks: [{type: MISC_CHECK, misc_path: /bin/true}]}
    - ip: 2001:db8::10
      port: 53
      protocol: UDP
      lb_kind: NAT
      real_server_port: 5353
      real_servers_group: sink_rs
      real_server_ip_var: sink_ip6
      checks: [{type: TCP_CHECK, connect_port: 53}]
      real_servers: [{ip: "2001:db8::31", port: 5300, weight: 9}]
'''))
RICH_GROUPS = {'sink_rs': ['rs-b', 'rs-a', 'rs-c']}
RICH_HOSTVARS = {'rs-b': {'sink_ip6': '2001:db8::32', 'lvs_dr_realserver_weight': 4},
                 'rs-a': {'sink_ip6': '2001:db8::31'}, 'rs-c': {'sink_ip6': '2001:db8::33'}}
SSL_CHECK = '''
        SSL_GET {
            url {
                path /healthz
                digest 0123456789abcdef
                status_code 200-299
                virtualhost a.example.com
            }
            url {
                path /ready
            }
            virtualhost www.example.com
            http_protocol 1.1
            enable_sni true
            connect_timeout 3
            retry 2
            delay_before_retry 1
            delay_loop 5
            warmup 2
            # check extra
        }'''
RICH_TEXT = '''

virtual_server 198.51.100.10 443 {
    delay_loop 10
    lb_algo wrr
    lb_kind DR
    protocol TCP
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    virtualhost www.example.com
    quorum 2
    hysteresis 0
    quorum_up "/usr/local/bin/quorum \\"up\\""
    quorum_down "/usr/local/bin/quorum down"
    alpha
    ha_suspend
    sorry_server 198.51.100.99 443
    sorry_server_inhibit
    # vs extra line
    real_server 198.51.100.21 443 {
        weight 3
        notify_up "/bin/echo \\"rs up\\""
        notify_down "/bin/echo down"''' + SSL_CHECK + '''
        # rs extra
    }
    real_server 198.51.100.22 443 {
        weight 0
        inhibit_on_failure
        MISC_CHECK {
            misc_path "/usr/local/bin/check \\"a b\\""
            misc_timeout 5
            misc_dynamic
            user nobody
            delay_loop 3
        }
        HTTP_GET {
            url {
                path /
            }
            connect_ip 198.51.100.122
            connect_port 443
            bindto 198.51.100.2
            bind_port 40000
        }
        TCP_CHECK {
        }
    }
    real_server 198.51.100.23 443 {
        weight 1
        inhibit_on_failure''' + SSL_CHECK + '''
    }
}

virtual_server fwmark 7 {
    ip_family inet6
    lb_algo sh
    lb_kind DR
    real_server 2001:db8::21 {
        weight 1
        TCP_CHECK {
            connect_port 80
        }
    }
    real_server 2001:db8::22 8080 {
        weight 1
        MISC_CHECK {
            misc_path "/bin/true"
        }
    }
}

virtual_server 2001:db8::10 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 2001:db8::31 5300 {
        weight 9
        TCP_CHECK {
            connect_port 53
        }
    }
    real_server 2001:db8::31 5353 {
        weight 1
        TCP_CHECK {
            connect_port 53
        }
    }
    real_server 2001:db8::32 5353 {
        weight 4
        TCP_CHECK {
            connect_port 53
        }
    }
    real_server 2001:db8::33 5353 {
        weight 1
        TCP_CHECK {
            connect_port 53
        }
    }
}'''


def test_rich_rendering_matches_the_former_template():
    assert keepalived_virtual_servers(RICH, groups=RICH_GROUPS, hostvars=RICH_HOSTVARS)['errors'] == []
    assert keepalived_virtual_server_blocks(RICH, groups=RICH_GROUPS, hostvars=RICH_HOSTVARS) == RICH_TEXT


def test_rendering_is_empty_without_virtual_servers():
    assert keepalived_virtual_server_blocks([]) == ''
    assert keepalived_virtual_server_blocks(None) == ''


def test_rendering_refuses_invalid_virtual_servers():
    with pytest.raises(AnsibleFilterError, match='port 0 is out of range'):
        keepalived_virtual_server_blocks([vs(port=0)])


# ------------------------------------------------------------------------------------------------
# Reading Ansible's lazy containers
# ------------------------------------------------------------------------------------------------
class Lazy(dict):
    """Stands in for ansible-core 2.19's lazy dict: stored values come out through item access,
    which 'templates' them (here: replaces '{{ vip }}'); _non_lazy_copy gives them as stored."""

    accessed = []

    def __getitem__(self, key):
        Lazy.accessed.append(key)
        value = dict.__getitem__(self, key)
        return value.replace('{{ vip }}', '198.51.100.10') if isinstance(value, str) else value

    def _non_lazy_copy(self):
        return dict(dict.items(self))


def test_only_items_that_may_be_templates_go_through_item_access():
    Lazy.accessed = []
    data = [Lazy({'ip': '{{ vip }}', 'port': 80, 'real_servers': [{'ip': '198.51.100.21'}]})]
    result = resolve(data)
    assert result['errors'] == []
    assert result['virtual_servers'][0]['ip'] == '198.51.100.10'
    assert Lazy.accessed == ['ip']


def test_unknown_types_go_through_item_access():
    class Vaulted(object):
        def __str__(self):
            return 'vaulted'

    with pytest.raises(keepalived._NeedsAccess):  # pylint: disable=protected-access
        keepalived._fast({'key': Vaulted()})  # pylint: disable=protected-access
    assert keepalived._plain({'a': [1, 'b', None, 2.5, True], 'c': ('d',)}) == {  # pylint: disable=protected-access
        'a': [1, 'b', None, 2.5, True], 'c': ['d']}


TEMPLATING = textwrap.dedent('''
    import json, sys
    from ansible.plugins.loader import init_plugin_loader
    init_plugin_loader([sys.argv[1]])
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template as trust
    variables = {
        'vip': '198.51.100.10',
        'servers': [{'ip': trust('{{ vip }}'), 'port': 80, 'real_servers_group': 'web',
                     'real_servers': [{'ip': '198.51.100.30', 'weight': trust('{{ 2 + 3 }}')}]}],
        'groups': {'web': ['rs-a']},
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    text = templar.template(trust('{{ servers | lvs.dr.keepalived_virtual_server_blocks(groups=groups, '
                                  'hostvars={"rs-a": {"ansible_host": "198.51.100.21"}}) }}'))
    found = templar.template(trust('{{ (servers | lvs.dr.keepalived_virtual_servers(groups=groups, '
                                   'hostvars={"rs-a": {"ansible_host": "rs-a"}})).errors }}'))
    print(json.dumps({'text': text, 'errors': found}))
''')


def test_through_ansible_templating():
    """The filters called from a template the way the role calls them, values that are templates
    included (ansible-core 2.19: lazy containers, trusted templates). A process of its own: the
    collection loader must be installed before anything imports ansible_collections."""
    if not hasattr(pytest.importorskip('ansible.template'), 'trust_as_template'):
        pytest.skip('ansible-core without trusted templates (before 2.19)')
    proc = subprocess.run([sys.executable, '-c', TEMPLATING, COLLECTIONS], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result['text'] == (
        '\n\nvirtual_server 198.51.100.10 80 {\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n'
        '    real_server 198.51.100.30 80 {\n        weight 5\n    }\n'
        '    real_server 198.51.100.21 80 {\n        weight 1\n    }\n}')
    assert result['errors'] == [
        "keepalived_director_virtual_servers[0] ([198.51.100.10]:80): host rs-a of group web "
        "(address from ansible_host): ip 'rs-a' is not an IPv4 or IPv6 address"]


# ------------------------------------------------------------------------------------------------
# Scale: what the role's benchmark renders (1,000 virtual servers x 20 real servers)
# ------------------------------------------------------------------------------------------------
def test_twenty_thousand_real_servers_take_well_under_a_second():
    real_servers = [{'ip': '203.0.113.%d' % (11 + j), 'weight': 1 + j % 3} for j in range(20)]
    data = [{'ip': '198.51.100.%d' % (10 + i % 10), 'port': 1000 + i // 10, 'protocol': 'TCP', 'lb_algo': 'wlc',
             'delay_loop': 6, 'checks': [{'type': 'TCP_CHECK', 'connect_timeout': 3}],
             'real_servers': [dict(rs) for rs in real_servers]} for i in range(1000)]
    started = time.process_time()
    assert keepalived_virtual_servers(data)['errors'] == []
    text = keepalived_virtual_server_blocks(data)
    seconds = time.process_time() - started
    assert text.count('real_server ') == 20000
    assert seconds < 2.0, seconds
    assert gc.isenabled()
