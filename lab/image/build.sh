#!/bin/bash
# Build the lab image from Debian packages: debootstrap a root, bake files/ in, import it
# into podman. Called by `lab/lab image` (which decides, by hash, whether a build is due):
#   build.sh <work-dir> <image-ref>
# Leaves <work-dir>/rootfs (kept: the UML directors boot from it) and the podman image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1 ref=$2
# shellcheck source=image.env
. "$here/image.env"

# The mirror is the host's own Debian mirror (whatever its apt sources say), read now and
# never committed. LVSDR_LAB_MIRROR overrides it.
mirror=${LVSDR_LAB_MIRROR:-$(python3 - "$SUITE" <<'PY'
import glob, os, re, sys
suite = sys.argv[1]
entries = []  # (uri, suites) of every "deb" source the host has
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*")):
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):  # deb822 stanzas
        for stanza in re.split(r"\n\s*\n", text):
            f = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            if "deb" in f.get("Types", "").split():
                for uri in f.get("URIs", "").split():
                    entries.append((uri, f.get("Suites", "").split()))
    elif path.endswith(".list"):
        for line in text.splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                entries.append((m.group(1), [m.group(2)]))
# A Debian archive is one serving a plain release codename debootstrap knows.
known = lambda s: os.path.exists("/usr/share/debootstrap/scripts/" + s)
for uri, suites in entries:
    if any(known(s) and "-" not in s for s in suites) and "security" not in uri:
        print(uri.rstrip("/")); break
else:
    sys.exit("no Debian mirror found in the host's apt sources; set LVSDR_LAB_MIRROR")
PY
)}

trap 'echo "lab image build failed; see $work/debootstrap.log" >&2' ERR
rm -rf "$work/rootfs.tmp" "$work/rootfs"
mkdir -p "$work"
root=$work/rootfs.tmp
# --variant=minbase keeps the image small; Recommends are not installed by debootstrap.
debootstrap --variant=minbase --include="$(echo $PACKAGES | tr ' ' ,)" \
    "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

cp -a "$here/files/." "$root/"
echo "deb $mirror $SUITE main" >"$root/etc/apt/sources.list"   # apt inside the lab works
chroot "$root" /bin/sh -es >>"$work/debootstrap.log" 2>&1 <<'SH'
systemctl enable lvsdr-echo.service lvsdr-director-net.service ssh.service
# Off until a role turns them on: a running firewalld's default zone would block port 80,
# and the roles under test must be the ones that enable keepalived.
systemctl disable firewalld.service keepalived.service 2>/dev/null || true
# iptables-persistent's postinst saved the chroot's (= the host's) rules: the lab starts with
# none, and netfilter-persistent stays off until the iptables method enables it.
rm -f /etc/iptables/rules.v4 /etc/iptables/rules.v6
systemctl disable netfilter-persistent.service 2>/dev/null || true
# Units with nothing to do in a container or a UML guest.
systemctl mask systemd-resolved.service getty.target console-getty.service \
    systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service \
    2>/dev/null || true
# No per-user systemd for root's ssh logins: it costs the UML director about a second each.
systemctl mask user@.service
# sshd: root by key only (Debian's default is prohibit-password; say it anyway).
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
    >/etc/ssh/sshd_config.d/lvsdr-lab.conf
# Each container/guest gets its own machine-id from systemd at boot.
: >/etc/machine-id
rm -f /etc/hostname /var/lib/dbus/machine-id
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
SH

tar --numeric-owner --xattrs -C "$root" -c . \
    | podman import --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
        -q --change "LABEL io.lvsdr.lab.image=1" - "$ref" >/dev/null
mv "$root" "$work/rootfs"
