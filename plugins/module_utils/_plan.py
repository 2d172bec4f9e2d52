# -*- coding: utf-8 -*-
# Copyright: lvs.dr contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module_utils is PRIVATE and should only be used by this collection.
# Breaking changes can occur at any time.

"""Read -> decide -> apply. An engine fills a Plan from what it observed and what was asked, and
the Plan is the only place where the host is touched, behind the one check-mode gate.

Engines report, modules speak: an engine refuses by raising Refusal and collects its warnings;
only the module (speak()) talks to the AnsibleModule."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class Refusal(Exception):
    """Why a run stops. Raised while validating or planning it means nothing was changed; the seam
    also raises it for a command that fails while the plan runs. details: extra result keys
    (cmd, rc, stdout, stderr of a failed command)."""

    def __init__(self, msg, **details):
        super(Refusal, self).__init__(msg)
        self.msg = msg
        self.details = details


class Engine(object):
    """One resource's work on a host: validate() (everything that can be wrong with the request,
    before anything changes), then run(plan) -> (before, after, result)."""

    def __init__(self, system, params, check_mode=False):
        self.system = system
        self.params = params
        self.check_mode = check_mode
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def validate(self):
        pass


class Plan(object):
    """An ordered list of changes; the order is the safety order the engine decided."""

    def __init__(self, check_mode):
        self.check_mode = check_mode
        self._steps = []

    def add(self, description, func, *args):
        self._steps.append((description, func, args))

    @property
    def changed(self):
        return bool(self._steps)

    @property
    def actions(self):
        """Human-readable steps, returned whether or not they ran (check mode predicts them)."""
        return [description for description, dummy, dummy2 in self._steps]

    def execute(self):
        if self.check_mode:
            return
        for dummy, func, args in self._steps:
            func(*args)


def speak(module, engines, work):
    """The module's voice: call work(); relay every engine's warnings (engines: a list that work may
    still fill); a Refusal fails the module with its message, anything else returns work()'s value."""
    try:
        return work()
    except Refusal as e:
        _relay(module, engines)
        module.fail_json(msg=e.msg, **e.details)
    finally:
        _relay(module, engines)


def _relay(module, engines):
    for engine in engines:
        for text in engine.warnings:
            module.warn(text)
        del engine.warnings[:]


def run_single(module, system, engine):
    """What lvs_vip, lvs_arp_suppress and lvs_redirect do once their arguments are parsed: lock the
    host, validate, plan, apply, and exit with changed/actions and, in diff mode, before/after."""
    def work():
        system.lock()
        engine.validate()
        plan = Plan(module.check_mode)
        before, after, result = engine.run(plan)
        plan.execute()
        return plan, before, after, result

    plan, before, after, result = speak(module, [engine], work)
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(changed=plan.changed, actions=plan.actions, **result)
