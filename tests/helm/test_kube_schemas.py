"""The 1.30 check the chart's renders pass (tests/kube_schemas.py) refuses what 1.30 refuses."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.kube_schemas import SCHEMAS_1_30, kubernetes_1_30_errors
from tests.parts import require

# kubernetes_validate 1.24.1 still uses pkg_resources, distutils versions and RefResolver.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        },
    },
}
# Served by 1.20 (policy/v1beta1), removed in 1.25.
POD_SECURITY_POLICY = {
    "apiVersion": "policy/v1beta1",
    "kind": "PodSecurityPolicy",
    "metadata": {"name": "restricted"},
    "spec": {
        "seLinux": {"rule": "RunAsAny"},
        "runAsUser": {"rule": "MustRunAsNonRoot"},
        "supplementalGroups": {"rule": "RunAsAny"},
        "fsGroup": {"rule": "RunAsAny"},
    },
}


@pytest.fixture(autouse=True)
def _schemas():
    require(SCHEMAS_1_30.is_dir(), f"{SCHEMAS_1_30} is missing: run `make setup`")


def test_a_valid_deployment_has_no_errors():
    assert kubernetes_1_30_errors(DEPLOYMENT) == []


def test_an_unknown_field_is_refused_where_it_is():
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert kubernetes_1_30_errors(bad) == [
        "$.spec.template.spec.containers[0]: Additional properties are not allowed "
        "('imagePullPolicyy' was unexpected)"
    ]


def test_a_wrong_type_and_a_missing_required_field_are_refused():
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["replicas"] = "two"
    del bad["spec"]["selector"]
    assert kubernetes_1_30_errors(bad) == [
        "$.spec.replicas: 'two' is not of type 'integer', 'null'",
        "$.spec: 'selector' is a required property",
    ]


def test_an_api_that_1_20_serves_and_1_30_no_longer_does_is_refused():
    kubernetes_validate.validate(POD_SECURITY_POLICY, "1.20.0", strict=True)
    assert kubernetes_1_30_errors(POD_SECURITY_POLICY) == [
        "$: Kubernetes 1.30 serves no PodSecurityPolicy in policy/v1beta1"
    ]
