"""Planning a command's limits: the record, the flags and this process's limits merged."""

from __future__ import annotations

import resource

from conda_limits.limits.model import LimitSet, parse_limits
from conda_limits.run.plan import plan_limits


def test_plan_keeps_what_is_not_configured():
    plan = plan_limits(parse_limits({"vmem": "4G"}), parse_limits({"cpu": "1m"}))
    for resource_name, setting in (("RLIMIT_STACK", plan["stack"]),):
        soft, hard = resource.getrlimit(getattr(resource, resource_name))
        assert setting.source == "inherited"
        assert (setting.soft, setting.hard) == (
            "unlimited" if soft == resource.RLIM_INFINITY else soft,
            "unlimited" if hard == resource.RLIM_INFINITY else hard)
    assert (plan["vmem"].soft, plan["vmem"].source) == (4 * 2**30, "environment")
    assert (plan["cpu"].soft, plan["cpu"].source) == (60, "flag")
    assert set(plan.saved()) == {"vmem", "cpu"}
    assert plan.warnings == ()


def test_restored_values_replace_the_inherited_ones():
    plan = plan_limits(LimitSet(), restored={"nofile": 77})
    assert (plan["nofile"].soft, plan["nofile"].source) == (77, "inherited")
