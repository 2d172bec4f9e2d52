# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""The one I/O seam of every module: commands and files go through System, so unit tests
replace a single object and the modules' read -> decide -> apply logic stays pure."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import os
import stat
import tempfile
import time

from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.lvs.dr.plugins.module_utils._plan import Refusal
from ansible_collections.lvs.dr.plugins.module_utils._units import VIPS_UNIT, requires_dir


# The collection's own directories: each goes when the last file in it does.
STATE_DIRS = ('/etc/lvs-dr', '/run/lvs-dr', requires_dir(VIPS_UNIT))
# One run at a time per host; like iptables' /run/xtables.lock the empty file stays (on tmpfs).
LOCK_FILE = '/run/lvs-dr.lock'
LOCK_WAIT_S = 300


class System(object):
    """Commands and file access on the managed host, through one AnsibleModule's run_command,
    get_bin_path and atomic_move; what fails raises Refusal."""

    def __init__(self, module):
        self.module = module
        self._listings = {}

    def lock(self):
        """Hold the host's lvs.dr lock until the module exits, so that two runs on one host (two
        plays or job templates at once) take turns instead of both deciding from the same state."""
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o600)
        deadline = time.time() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except (IOError, OSError) as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.time() > deadline:
                raise Refusal('Another lvs.dr run on this host has held %s for more than %d s; '
                              'nothing was changed.' % (LOCK_FILE, LOCK_WAIT_S))
            time.sleep(0.1)

    def binary(self, name, required=True):
        """Absolute path of a binary; refuses naming it when required and absent."""
        path = self.module.get_bin_path(name, required=False)
        if path is None and required:
            raise Refusal('The %s binary was not found on the host; install it '
                          '(or choose another method) and retry.' % name)
        return path

    def run(self, argv, check=True, data=None):
        """Run an argv list with a C locale; by default refuse on a non-zero exit. The
        listings query() kept are forgotten: the command may change what they list."""
        self._listings.clear()
        return self._execute(argv, check, data)

    def query(self, argv, check=True):
        """run() for a command that only lists (arptables -L, iptables -S): its answer is kept until
        the next run(), so the steps of one lvs_realserver call that read the same table read it once."""
        key = tuple(argv)
        if key not in self._listings:
            self._listings[key] = self._execute(argv, False, None)
        rc, out, err = self._listings[key]
        if check and rc != 0:
            self._fail(argv, rc, out, err)
        return rc, out, err

    def _execute(self, argv, check, data):
        rc, out, err = self.module.run_command(argv, data=data, binary_data=data is not None,
                                               environ_update={'LANG': 'C', 'LC_ALL': 'C'})
        if check and rc != 0:
            self._fail(argv, rc, out, err)
        return rc, out, err

    @staticmethod
    def _fail(argv, rc, out, err):
        raise Refusal('Command failed: %s: %s' % (' '.join(argv), (err or out).strip()),
                      cmd=argv, rc=rc, stdout=out, stderr=err)

    def read(self, path):
        """Text of a file, or None when it does not exist."""
        try:
            with open(path, 'rb') as f:
                return to_native(f.read())
        except IOError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def exists(self, path):
        return os.path.lexists(path)

    def mode(self, path):
        """Permission bits of a file, or None when it does not exist."""
        try:
            return stat.S_IMODE(os.stat(path).st_mode)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def listdir(self, path):
        try:
            return sorted(os.listdir(path))
        except OSError as e:
            if e.errno == errno.ENOENT:
                return []
            raise

    def write(self, path, content, mode=0o644):
        """Replace a file atomically: temp file in the same directory, flushed to disk (a boot record
        must not be an empty file after a power cut), then atomic_move."""
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd, tmp = tempfile.mkstemp(prefix='.lvs-dr-', dir=directory)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(to_bytes(content))
                f.flush()
                os.fsync(f.fileno())
            self.module.atomic_move(tmp, path)
            # atomic_move gives a new file the umask's mode and an old one its previous mode.
            os.chmod(path, mode)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def remove(self, path):
        """Remove a file if it exists, and its directory when that is an emptied STATE_DIRS."""
        try:
            os.unlink(path)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        directory = os.path.dirname(path)
        if directory in STATE_DIRS:
            try:
                os.rmdir(directory)
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                    raise

    def set_proc(self, path, value):
        """Write a live kernel setting under /proc/sys (not a file: no atomic replace)."""
        with open(path, 'w') as f:
            f.write('%s\n' % value)

    def symlink(self, target, path):
        """Create or correct a symlink (used to enable a unit without a running systemd)."""
        if os.path.islink(path) and os.readlink(path) == target:
            return
        self.remove(path)  # before the directory is made: removing may prune an emptied one
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        os.symlink(target, path)


def read_owned(system, path, is_ours, owner):
    """Text of a file a module owns, None when absent. A module rewrites or removes only a file that
    carries its own mark (is_ours(text)); anything else at that path is refused, never taken over."""
    text = system.read(path)
    if text is not None and not is_ours(text):
        raise Refusal('%s exists and was not written by %s; refusing to take it over (a module rewrites or '
                      'removes only its own files). Remove it or choose another path.' % (path, owner))
    return text
