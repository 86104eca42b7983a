"""The rApp chart's Roles (helm/csi-rapp) grant exactly what the code calls: the rApp's Job
runner and the Job's entry point run against kmock's in-memory Kubernetes API, and the
(group, resource, verb) triples they request are compared with the rendered Roles' rules,
and with the client calls their source holds (so no call of theirs goes unexercised).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import re
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from model_store import generate_keypair
from rapp import job_entry
from rapp.adapters import JobLauncher
from rapp.job_manifest import OUTCOME_KEY, job_name, outcome_configmap_name
from rapp.jobs import JobRunner, JobState
from rapp.settings_parts import job_settings
from tests.deploy import kube
from tests.deploy.kube import one
from tests.deploy.rapp_cases import ALL, GPU_NODES, GPU_TOLERATIONS
from tests.deploy.rapp_chart import loaded
from tests.rapp.jobs_support import ACCEPTED, Outcome, entry_args, samples


def _triples(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/[^/]+)"
    r"/namespaces/(?P<ns>[^/]+)/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)


def _request_triple(method: str, path: str, params: dict[str, str]) -> tuple[str, str, str, str]:
    """``(namespace, apiGroup, resource, verb)`` as Kubernetes' authorizer sees a request
    (RequestInfo: GET on a name is get, without one list or watch, POST create, PUT update,
    PATCH patch, DELETE on a name delete, without one deletecollection)."""
    m = _PATH.match(path)
    assert m, f"a request outside a namespace: {method} {path}"
    named = m["name"] is not None
    verb = {
        "GET": "get" if named else ("watch" if params.get("watch") else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if named else "deletecollection",
    }[method]
    resource = m["resource"] + (f"/{m['sub']}" if m["sub"] else "")
    return m["ns"], m["group"] or "", resource, verb


_CLIENT_RESOURCES = {
    "job": ("batch", "jobs"),
    "job_status": ("batch", "jobs/status"),
    "config_map": ("", "configmaps"),
}
_CLIENT_VERBS = {
    "create": "create",
    "read": "get",
    "list": "list",
    "patch": "patch",
    "replace": "update",
    "delete": "delete",
}


def _calls_in_source(*entry_points: Any) -> set[tuple[str, str, str]]:
    """The (apiGroup, resource, verb) triples of the ``kubernetes`` client calls
    (``<verb>_namespaced_<kind>``) in the entry points' source and, transitively, in the
    JobRunner methods (``self.x(...)``) and the functions of rapp.jobs and rapp.job_entry
    they call."""
    seen: set[Any] = set()
    todo, found = list(entry_points), set()
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn)))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Attribute) and "_namespaced_" in f.attr:
                verb, kind = f.attr.split("_namespaced_")
                found.add((*_CLIENT_RESOURCES[kind], _CLIENT_VERBS[verb]))
            elif isinstance(f, ast.Attribute) and getattr(f.value, "id", None) == "self":
                if callable(getattr(JobRunner, f.attr, None)):
                    todo.append(getattr(JobRunner, f.attr))
            elif isinstance(f, ast.Name):
                target = getattr(inspect.getmodule(fn), f.id, None)
                module = getattr(target, "__module__", None)
                if inspect.isfunction(target) and module in ("rapp.jobs", "rapp.job_entry"):
                    todo.append(target)
    return found


def _launcher_methods() -> list[str]:
    return [n for n, v in vars(JobLauncher).items() if callable(v) and not n.startswith("_")]


def test_the_rapp_uses_the_runner_only_through_its_launcher() -> None:
    """The rApp reaches the Job runner only through ``JobLauncher`` (the adapter's view of
    it), whose methods are the entry points the Role test reads the calls from: a runner
    method the rApp starts calling (``list_jobs``, list on Jobs) fails here."""
    assert _launcher_methods() == ["run"]
    others = {n for n, v in vars(JobRunner).items() if callable(v) and not n.startswith("_")}
    others -= set(_launcher_methods()) | {"delete"}  # `.delete(` is also a store's
    for path in sorted(Path(job_entry.__file__).parent.glob("*.py")):
        if path.name == "jobs.py":
            continue
        text = path.read_text()
        assert {m for m in others if f".{m}(" in text} == set(), path.name
        assert re.findall(r"runner\.(?!run\()\w+\(", text) == [], path.name


def _clients(kmock: Any, token: str) -> tuple[client.BatchV1Api, client.CoreV1Api]:
    config = client.Configuration(host=str(kmock.url).rstrip("/"))
    config.api_key = {"authorization": token}
    config.api_key_prefix = {"authorization": "Bearer"}
    api = client.ApiClient(config)
    return client.BatchV1Api(api), client.CoreV1Api(api)


def _wait(what: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return what()
        except ApiException as exc:
            if exc.status != 404:
                raise
        time.sleep(0.002)
    raise TimeoutError(what)


@pytest.mark.asyncio
async def test_roles_grant_exactly_what_the_code_calls(
    kmock: Any, rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """The rApp's Job runner (built from the rendered settings, as the rApp builds it) and
    the Job's own entry point run against kmock's Kubernetes API, each with a token of its
    own; the test plays the Job controller with a third. Every way a Job goes is taken:
    created, followed and succeeded with the outcome ConfigMap made first by the rApp (the
    Job patches it) or by the Job (the rApp patches in its owner), a Job that exists
    already, one deleted while followed, and one that outlives its timeout (deleted). The
    (apiGroup, resource, verb) triples each side asked for must be the rules of its Role,
    exactly, in the namespace its RoleBinding is in, for the accounts the pods run as."""
    docs = rendered["all"]
    s = loaded(docs, tmp_path)
    settings = job_settings(s)
    ns = settings.namespace
    kmock.resources["batch/v1/jobs"] = {}
    kmock.resources["v1/configmaps"] = {}
    rapp_batch, rapp_core = _clients(kmock, "rapp")
    ctl_batch, ctl_core = _clients(kmock, "cluster")
    _, job_core = _clients(kmock, "job")
    runner = JobRunner(rapp_batch, rapp_core, settings, poll_s=0.01)
    key_file = generate_keypair(tmp_path / "signing")[0]
    codes: list[int] = []

    def pod(name: str) -> None:
        """The Job's pod: the entry point with the Job's own arguments."""
        job = client.ApiClient().sanitize_for_serialization(ctl_batch.read_namespaced_job(name, ns))
        codes.append(
            job_entry.main(
                entry_args(job, key_file),
                adapt=lambda *a, **k: Outcome(ACCEPTED),
                read_samples=lambda *a: samples(),
                core_v1=job_core,
            )
        )

    def give_uid(name: str) -> None:
        ctl_batch.patch_namespaced_job(name, ns, {"metadata": {"uid": f"uid-{name}"}})

    def succeed(name: str) -> None:
        ctl_batch.patch_namespaced_job_status(name, ns, {"status": {"succeeded": 1}})

    def rapp_owns_first(name: str) -> None:
        _wait(lambda: ctl_batch.read_namespaced_job(name, ns))
        give_uid(name)
        _wait(lambda: ctl_core.read_namespaced_config_map(outcome_configmap_name(name), ns))
        pod(name)  # the ConfigMap exists: the Job patches it
        succeed(name)

    def job_writes_first(name: str) -> None:
        _wait(lambda: ctl_batch.read_namespaced_job(name, ns))
        pod(name)  # no uid yet, so the rApp has not made the ConfigMap
        give_uid(name)
        succeed(name)

    def deleted(name: str) -> None:
        _wait(lambda: ctl_batch.read_namespaced_job(name, ns))
        ctl_batch.delete_namespaced_job(name, ns)

    async def follow(run_id: str, player: Any, timeout_s: float = 30) -> Any:
        name = job_name("env-a", run_id)
        result, _ = await asyncio.gather(
            asyncio.to_thread(runner.run, "env-a", run_id, timeout_s),
            asyncio.to_thread(player, name),
        )
        return result

    first = await follow("r1", rapp_owns_first)
    second = await follow("r2", job_writes_first)
    again = await asyncio.to_thread(runner.run, "env-a", "r2", 30)  # it exists (409)
    gone = await follow("r3", deleted)
    late = await asyncio.to_thread(runner.run, "env-a", "r4", 0.05)

    assert [r.state for r in (first, second, again, gone, late)] == [
        JobState.SUCCEEDED,
        JobState.SUCCEEDED,
        JobState.SUCCEEDED,
        JobState.DELETED,
        JobState.TIMED_OUT,
    ]
    assert all(r.outcome is not None for r in (first, second, again)), [first, second, again]
    assert job_entry.EXIT_NO_OUTCOME not in codes and len(codes) == 2

    calls: dict[str, set[tuple[str, str, str]]] = {"rapp": set(), "job": set(), "cluster": set()}
    namespaces = set()
    for request in kmock:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        namespace, *triple = _request_triple(request.method, request.url.path, request.params)
        calls[token].add(tuple(triple))
        namespaces.add(namespace)
    assert namespaces == {ns}

    rapp_role = one(docs, "Role", "lasco-rapp-jobs")
    job_role = one(docs, "Role", "csi-trainer")
    assert calls["rapp"] == _triples(rapp_role["rules"])
    assert calls["job"] == _triples(job_role["rules"])
    # the ways taken above reach every call in the code the rApp and the Job run
    launcher = [getattr(JobRunner, n) for n in _launcher_methods()]
    assert _calls_in_source(*launcher) == calls["rapp"]
    assert _calls_in_source(job_entry.main) == calls["job"]
    assert rapp_role["metadata"]["namespace"] == job_role["metadata"]["namespace"] == ns

    # the Roles are bound to the accounts the pods run as, where the Jobs run
    pod_spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    binding = one(docs, "RoleBinding", "lasco-rapp-jobs")
    assert binding["metadata"]["namespace"] == ns
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "lasco-rapp-jobs",
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": pod_spec["serviceAccountName"],
            "namespace": one(docs, "Deployment")["metadata"]["namespace"],
        }
    ]
    job_binding = one(docs, "RoleBinding", "csi-trainer")
    created = next(r for r in kmock if r.method == "POST" and "jobs" in r.url.path).data
    job_pod = created["spec"]["template"]["spec"]
    assert job_binding["metadata"]["namespace"] == ns
    assert job_binding["roleRef"]["name"] == "csi-trainer"
    assert job_binding["subjects"] == [
        {"kind": "ServiceAccount", "name": job_pod["serviceAccountName"], "namespace": ns}
    ]
    assert one(docs, "ServiceAccount", job_pod["serviceAccountName"])["metadata"]["namespace"] == ns
    assert job_pod["automountServiceAccountToken"] is True
    job_account = one(docs, "ServiceAccount", job_pod["serviceAccountName"])
    pulls = [{"name": n} for n in ALL["imagePullSecrets"]]
    assert job_account["imagePullSecrets"] == pulls  # the Jobs' pods pull
    # the Job's own settings, as the values gave them
    (job_container,) = job_pod["containers"]
    assert job_container["image"] == "registry.example:5000/lasco/csi-rapp-cuda:0.1.0-cu12"
    assert job_container["resources"] == {
        "requests": {"cpu": "1", "memory": "6Gi"},
        "limits": {"cpu": "8", "memory": "16Gi", "nvidia.com/gpu": "1"},
    }
    assert job_container["imagePullPolicy"] == "Always"
    assert job_pod["nodeSelector"] == GPU_NODES
    assert job_pod["tolerations"] == GPU_TOLERATIONS
    assert job_container["envFrom"] == [
        {"secretRef": {"name": "csi-rapp-s3"}},
        {"secretRef": {"name": "csi-jobs-extra"}},
    ]
    assert kube.k8s_errors(created) == []
    (key_volume,) = [v for v in job_pod["volumes"] if "secret" in v]
    assert key_volume["secret"]["secretName"] == "lasco-signing"
    assert key_volume["secret"]["items"][0]["key"] == "ed25519.pem"
    assert created["spec"]["ttlSecondsAfterFinished"] == 600
    assert created["spec"]["activeDeadlineSeconds"] == 3600
    outcome = kmock.objects["v1/configmaps", ns, outcome_configmap_name(job_name("env-a", "r1"))]
    assert json.loads(outcome["data"][OUTCOME_KEY]) == first.outcome
