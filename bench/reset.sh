#!/bin/sh
# Inside a lab real server: back to the image's clean state after the role or the baseline
# (VIP, ARP settings, the files and units either wrote). $1 = the VIP.
vip=$1
ip addr del "$vip/32" dev lo 2>/dev/null
for i in all eth0 lo default; do
  sysctl -q -w net.ipv4.conf.$i.arp_ignore=0 net.ipv4.conf.$i.arp_announce=0 2>/dev/null
done
arptables -F 2>/dev/null
iptables -w -t nat -F PREROUTING 2>/dev/null
rm -rf /etc/lvs-dr /run/lvs-dr /etc/sysctl.d/arp.conf /etc/sysctl.d/90-lvs-dr-arp.conf \
  /etc/sysconfig/arptables /etc/iptables/rules.v4 /root/.ansible/tmp
for u in /etc/systemd/system/lvs-dr-* /etc/systemd/system/*.wants/lvs-dr-*; do
  [ -e "$u" ] || [ -L "$u" ] && rm -f "$u" && touch /run/bench-reload
done
[ -e /run/bench-reload ] && rm -f /run/bench-reload && systemctl daemon-reload
exit 0
