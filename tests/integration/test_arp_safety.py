"""Packet tests of the safety order: while a real server is given the VIP and has it taken
away again, the client keeps asking who has the VIP and records every ARP reply on the wire.
The lab has no director, so under the safe order nobody may answer at all; each negative
control (VIP without working suppression) proves the watcher does see a real server that
answers. Three orders are tested: suppression before the VIP (arp_safety.yml), arptables
rules brought ahead of another tool's ACCEPTs before the VIP (arp_rule_order.yml), and a refused
lift of the suppression while the VIP is held (arp_lift.yml)."""
import os

from arp_watcher import ArpWatcher, claims, requests

HERE = os.path.dirname(os.path.abspath(__file__))

# A backstop only: the client asks and watches until the playbook has returned, so every moment the
# VIP was held was watched, however slow the machine.
WATCH_LIMIT = 300


def vip_claims(lab, playbook, safe):
    """MACs that claimed the VIP on the wire (ARP replies for it, or ARP sent with it as the
    sender address) while `playbook` gave the real server the VIP and took it away."""
    watcher = ArpWatcher(lab, WATCH_LIMIT)
    try:
        converge = lab.playbook(os.path.join(HERE, playbook), '-e', 'safe=%s' % safe)
    finally:
        watcher.stop()
    assert converge.returncode == 0, converge.stdout[-6000:]
    packets = watcher.packets()
    assert requests(packets, lab.vars['lab_vip4']), \
        'the watcher saw no ARP request for the VIP: the test would prove nothing\n' + '\n'.join(watcher.lines)
    return [mac for mac, dummy in claims(packets, lab.vars['lab_vip4'])]


def test_safe_order_never_answers_arp_for_the_vip(lab):
    assert vip_claims(lab, 'arp_safety.yml', safe=True) == []


def test_negative_control_unsuppressed_vip_is_answered(lab):
    assert lab.hosts['rs1']['lab_mac'] in vip_claims(lab, 'arp_safety.yml', safe=False)


def test_rules_moved_ahead_of_foreign_accepts_never_answer_arp_for_the_vip(lab):
    assert vip_claims(lab, 'arp_rule_order.yml', safe=True) == []


def test_negative_control_rules_behind_foreign_accepts_are_answered(lab):
    assert lab.hosts['rs1']['lab_mac'] in vip_claims(lab, 'arp_rule_order.yml', safe=False)


def test_refused_lift_under_a_held_vip_never_answers_arp_for_the_vip(lab):
    assert vip_claims(lab, 'arp_lift.yml', safe=True) == []


def test_negative_control_suppression_lifted_by_hand_under_the_vip_is_answered(lab):
    assert lab.hosts['rs1']['lab_mac'] in vip_claims(lab, 'arp_lift.yml', safe=False)
