"""The ``jobs`` settings as the adaptation Job's (``rapp.job_manifest.JobSettings``): from
the settings file or the environment into the Job's manifest (trusted keys, scheduling,
Secrets, the pod's user, retries, /tmp, labels and environment), and refused naming the
setting (and the variable) when the Job could not take them."""

import json

import pytest

from model_store import generate_keypair
from rapp.job_manifest import build_job
from rapp.settings import Settings, SettingsError
from rapp.settings_parts import check, job_settings
from tests.rapp.test_settings import JOBS_ON


def test_job_settings_read_key_files_as_hex_and_take_the_pods_namespace(tmp_path):
    _, pub = generate_keypair(tmp_path / "k")
    hex_key = "ab" * 32
    config = JOBS_ON | {
        "data": {"uri": "/d"},
        "store": {"uri": "/srv/store", "trusted_keys": [str(pub), hex_key]},
        "jobs": {"image": "lasco:1", "data_uri": "s3://data", "ttl_s": 60, "deadline_s": 90},
    }
    j = job_settings(Settings.from_mapping(config, env={}), namespace="lasco")
    assert j.trusted_keys == (pub.read_text().strip(), hex_key)
    assert j.namespace == "lasco"
    assert (j.data_store_uri, j.model_store_uri) == ("s3://data", "/srv/store")
    assert (j.ttl_seconds_after_finished, j.active_deadline_seconds) == (60, 90)


@pytest.mark.parametrize("source", ["file", "environment"])
def test_the_jobs_scheduling_and_secrets_reach_the_job_manifest(source):
    """jobs.image_pull_policy, gpu_node_selector, gpu_tolerations and env_from_secrets, from
    the settings file or the environment, reach the Job's manifest (the GPU scheduling only
    for a Job that requests GPUs)."""
    tolerations = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "pool", "operator": "Equal", "value": "train", "effect": "NoExecute"},
    ]
    tolerations[1]["tolerationSeconds"] = 300
    given = {
        "gpus": 1,
        "image_pull_policy": "Always",
        "gpu_node_selector": {"nvidia.com/gpu.product": "NVIDIA-L4", "pool": "train"},
        "gpu_tolerations": tolerations,
        "env_from_secrets": ["csi-rapp-s3", "influx-creds"],
    }
    env = {}
    config = JOBS_ON | {"data": {"uri": "/d"}, "jobs": {"image": "lasco:1"}}
    if source == "file":
        config["jobs"] |= given
    else:
        env = {
            "CSI_RAPP_JOBS_GPUS": "1",
            "CSI_RAPP_JOBS_IMAGE_PULL_POLICY": "Always",
            "CSI_RAPP_JOBS_GPU_NODE_SELECTOR": "nvidia.com/gpu.product=NVIDIA-L4,pool=train",
            "CSI_RAPP_JOBS_GPU_TOLERATIONS": json.dumps(tolerations),
            "CSI_RAPP_JOBS_ENV_FROM_SECRETS": "csi-rapp-s3,influx-creds",
        }
    s = Settings.from_mapping(config, env=env)
    assert {k: s.to_mapping()["jobs"][k] for k in given} == given
    again = Settings.from_mapping(s.to_mapping(), env={})
    assert again == s and hash(again) == hash(s)  # frozen and hashable, maps and all
    job = build_job("env-a", "r1", job_settings(s))
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["imagePullPolicy"] == "Always"
    assert pod["nodeSelector"] == given["gpu_node_selector"]
    assert pod["tolerations"] == tolerations
    assert container["envFrom"] == [
        {"secretRef": {"name": "csi-rapp-s3"}},
        {"secretRef": {"name": "influx-creds"}},
    ]
    assert json.loads(json.dumps(job)) == job  # plain JSON, as the client sends it

    cpu_config = config | {"jobs": config["jobs"] | {"gpus": 0}}
    cpu = job_settings(Settings.from_mapping(cpu_config, env=env | {"CSI_RAPP_JOBS_GPUS": "0"}))
    pod = build_job("env-a", "r1", cpu)["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert pod["containers"][0]["envFrom"] == container["envFrom"]


def test_the_gpu_scheduling_defaults_tolerate_the_gpu_taint():
    config = JOBS_ON | {"data": {"uri": "/d"}, "jobs": {"image": "i", "gpus": 1}}
    s = Settings.from_mapping(config, env={})
    pod = build_job("env-a", "r1", job_settings(s))["spec"]["template"]["spec"]
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert "nodeSelector" not in pod and "envFrom" not in pod["containers"][0]
    assert pod["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_a_trusted_key_that_is_not_a_key_is_named():
    config = JOBS_ON | {"store": {"uri": "/s", "trusted_keys": ["/no/such/key.pub"]}}
    with pytest.raises(SettingsError) as exc:
        job_settings(Settings.from_mapping(config, env={}))
    assert exc.value.field == "store.trusted_keys"


POD = {  # the Job's pod: its user, retries, /tmp, extra labels and environment
    "run_as_user": 20001,
    "backoff_limit": 2,
    "tmp_size_limit": "8Gi",
    "labels": {"team": "ran-ai", "example.com/cost-centre": "ric-training"},
    "env": {"OMP_NUM_THREADS": "4", "AWS_REGION": "eu-west-1"},
}
POD_ENV = {
    "CSI_RAPP_JOBS_RUN_AS_USER": "20001",
    "CSI_RAPP_JOBS_BACKOFF_LIMIT": "2",
    "CSI_RAPP_JOBS_TMP_SIZE_LIMIT": "8Gi",
    "CSI_RAPP_JOBS_LABELS": "team=ran-ai, example.com/cost-centre=ric-training",
    "CSI_RAPP_JOBS_ENV": '{"OMP_NUM_THREADS": "4", "AWS_REGION": "eu-west-1"}',
}


@pytest.mark.parametrize("source", ["file", "environment"])
def test_the_jobs_pod_settings_reach_the_job_manifest(source):
    """jobs.run_as_user, backoff_limit, tmp_size_limit, labels and env, from the settings
    file or the environment, reach the Job's manifest: the pod's user, the Job's retries,
    the /tmp emptyDir's size, the Job's and its pod's labels (the rApp's own kept) and the
    container's environment (after the Job's own)."""
    config = JOBS_ON | {"data": {"uri": "/d"}, "jobs": {"image": "lasco:1"}}
    env = {}
    if source == "file":
        config["jobs"] |= POD
    else:
        env = POD_ENV
    s = Settings.from_mapping(config, env=env)
    assert {k: s.to_mapping()["jobs"][k] for k in POD} == POD
    assert Settings.from_mapping(s.to_mapping(), env={}) == s
    job = build_job("env-a", "r1", job_settings(s))
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsUser"] == 20001
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert job["spec"]["backoffLimit"] == 2
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "8Gi"}} in pod["volumes"]
    labels = POD["labels"] | {"app": "csi-rapp", "environment": "env-a", "run-id": "r1"}
    assert job["metadata"]["labels"] == job["spec"]["template"]["metadata"]["labels"] == labels
    assert container["env"] == [
        {"name": "HOME", "value": "/tmp"},
        {"name": "TMPDIR", "value": "/tmp"},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "OMP_NUM_THREADS", "value": "4"},
        {"name": "AWS_REGION", "value": "eu-west-1"},
    ]


def test_the_jobs_pod_defaults_are_the_jobs():
    config = JOBS_ON | {"data": {"uri": "/d"}}
    job = build_job("env-a", "r1", job_settings(Settings.from_mapping(config, env={})))
    pod = job["spec"]["template"]["spec"]
    assert (pod["securityContext"]["runAsUser"], job["spec"]["backoffLimit"]) == (10001, 0)
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "4Gi"}} in pod["volumes"]
    assert set(job["metadata"]["labels"]) == {"app", "environment", "run-id"}
    assert [e["name"] for e in pod["containers"][0]["env"]] == [
        "HOME",
        "TMPDIR",
        "PYTHONUNBUFFERED",
    ]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"run_as_user": 0}, "jobs.run_as_user"),
        ({"run_as_user": -1}, "jobs.run_as_user"),
        ({"run_as_user": "nobody"}, "jobs.run_as_user"),
        ({"backoff_limit": -1}, "jobs.backoff_limit"),
        ({"backoff_limit": 1.5}, "jobs.backoff_limit"),
        ({"tmp_size_limit": "4 GB"}, "jobs.tmp_size_limit"),
        ({"tmp_size_limit": 4}, "jobs.tmp_size_limit"),
        ({"labels": {"cost centre": "ric"}}, "jobs.labels"),
        ({"labels": {"team": "r&d"}}, "jobs.labels"),
        ({"labels": {"team": 1}}, "jobs.labels"),
        ({"labels": ["team=ric"]}, "jobs.labels"),
        ({"labels": {"app": "other"}}, "jobs.labels"),  # the rApp finds its Jobs by it
        ({"labels": {"run-id": "r9"}}, "jobs.labels"),
        ({"env": {"OMP NUM THREADS": "4"}}, "jobs.env"),
        ({"env": {"2FAST": "4"}}, "jobs.env"),
        ({"env": {"OMP_NUM_THREADS": 4}}, "jobs.env"),
        ({"env": ["OMP_NUM_THREADS=4"]}, "jobs.env"),
    ],
)
def test_bad_pod_settings_name_the_field(bad, field):
    """Refused when read (the schema), or at start (``check``, as JobSettings refuses a
    label the rApp sets itself)."""
    config = JOBS_ON | {"data": {"uri": "/d"}, "jobs": {"enabled": True, "image": "i"} | bad}
    with pytest.raises(SettingsError) as exc:
        check(Settings.from_mapping(config, env={}))
    assert exc.value.field == field
    assert f"setting {field}:" in str(exc.value)


@pytest.mark.parametrize(
    ("var", "text"),
    [
        ("CSI_RAPP_JOBS_RUN_AS_USER", "0"),
        ("CSI_RAPP_JOBS_BACKOFF_LIMIT", "-1"),
        ("CSI_RAPP_JOBS_TMP_SIZE_LIMIT", "lots"),
        ("CSI_RAPP_JOBS_LABELS", "team"),
        ("CSI_RAPP_JOBS_LABELS", "team=r&d"),
        ("CSI_RAPP_JOBS_ENV", "OMP_NUM_THREADS"),
        ("CSI_RAPP_JOBS_ENV", "OMP-NUM-THREADS=4"),
    ],
)
def test_bad_pod_variables_name_the_setting_and_the_variable(var, text):
    with pytest.raises(SettingsError) as exc:
        Settings.from_mapping({}, env={var: text})
    field = "jobs." + var.removeprefix("CSI_RAPP_JOBS_").lower()
    assert (exc.value.field, exc.value.env) == (field, var)
