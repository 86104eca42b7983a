"""The values the rApp chart's tests render (helm/csi-rapp): the defaults, every optional
feature on (``ALL``, each setting away from the rApp's default), the adaptation in process,
the Jobs on another cluster, and no NetworkPolicy.
"""

from __future__ import annotations

DIGEST = "sha256:" + "5d" * 32
TRUSTED = "ab" * 32
GPU_NODES = {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb", "pool": "training"}
GPU_TOLERATIONS = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {
        "key": "dedicated",
        "operator": "Equal",
        "value": "training",
        "effect": "NoExecute",
        "tolerationSeconds": 600,
    },
]
JOB_LABELS = {"team": "ran-ai", "example.com/cost-centre": "ric-training"}
JOB_ENV = {"OMP_NUM_THREADS": "8", "AWS_REGION": "eu-west-1"}

IN_PROCESS = {"adaptationJobs": {"enabled": False}}
REMOTE_JOBS = {
    "adaptationJobs": {
        "namespace": "gpu-training",
        "kubeconfig": {"secret": {"name": "gpu-cluster", "key": "kubeconfig.yaml"}},
        "resources": {"limits": {"cpu": None}},  # null: no CPU limit
        # no registry of its own: the rApp's (image.registry)
        "image": {"repository": "lasco-ric/csi-rapp-cuda", "digest": DIGEST},
    }
}
NO_NETWORK_POLICY = {"networkPolicy": {"enabled": False}}
ALL = {
    "image": {"digest": DIGEST, "pullPolicy": "IfNotPresent"},
    "imagePullSecrets": ["ghcr-pull"],
    "fullnameOverride": "lasco-rapp",
    "serviceAccount": {"name": "lasco-rapp-loop", "annotations": {"example.com/role": "rapp"}},
    "podAnnotations": {"prometheus.io/scrape": "true", "prometheus.io/path": "/rapp/v1/metrics"},
    "podLabels": {"team": "ran-ai"},
    "resources": {
        "requests": {"cpu": "500m", "memory": "1536Mi"},
        "limits": {"cpu": 2, "memory": "3Gi"},
    },
    "tmp": {"sizeLimit": "2Gi"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "ric", "operator": "Equal", "value": "nonrt", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 1,
                    "preference": {
                        "matchExpressions": [
                            {"key": "node-role/ric", "operator": "In", "values": ["true"]}
                        ]
                    },
                }
            ]
        }
    },
    "priorityClassName": "ric-nonrt",
    "terminationGracePeriodSeconds": 900,
    "extraEnv": [
        {"name": "AWS_REGION", "value": "eu-west-1"},
        {
            "name": "AWS_ACCESS_KEY_ID",
            "valueFrom": {"secretKeyRef": {"name": "csi-rapp-s3", "key": "key-id"}},
        },
    ],
    "probes": {"startup": {"failureThreshold": 120, "initialDelaySeconds": 2}},
    "service": {"port": 8190, "annotations": {"example.com/owner": "ran-ai"}},
    "networkPolicy": {"namespaces": ["nonrtric", "ricplt", "monitoring"]},
    "signingKey": {"secret": {"name": "lasco-signing", "key": "ed25519.pem"}},
    "influxdb": {"tokenSecret": {"name": "influx-auth", "key": "admin-token"}},
    "adaptationJobs": {
        "namespace": "rapp-jobs",
        "image": {
            "registry": "registry.example:5000",
            "repository": "lasco/csi-rapp-cuda",
            "tag": "0.1.0-cu12",
            "pullPolicy": "Always",
        },
        "resources": {
            "requests": {"cpu": "1", "memory": "6Gi"},
            "limits": {"cpu": "8", "memory": "16Gi"},
        },
        "gpus": 1,
        "gpu": {"nodeSelector": GPU_NODES, "tolerations": GPU_TOLERATIONS},
        "ttlSecondsAfterFinished": 600,
        "activeDeadlineSeconds": 3600,
        "backoffLimit": 1,
        "runAsUser": 20001,
        "tmp": {"sizeLimit": "8Gi"},
        "labels": JOB_LABELS,
        "env": JOB_ENV,
        "pollSeconds": 2.5,
        "dataUri": "s3://csi-jobs/data",
        "storeUri": "s3://csi-jobs/models",
        "envFromSecrets": ["csi-rapp-s3", "csi-jobs-extra"],
        "serviceAccount": {"name": "csi-trainer", "annotations": {"example.com/role": "trainer"}},
    },
    # Every setting the values pass through, each away from the rApp's default.
    "settings": {
        "loop": {
            "poll_s": 15,
            "min_fresh_samples": 512,
            "max_samples": 40000,
            "new_environment_samples": 2048,
            "pending_timeout_s": 900,
        },
        "telemetry": {
            "url": "http://influxdb.ricplt:8086",
            "events_url": "http://influxdb-events.ricplt:8086",
            "bucket": "csi/autogen",
            "timeout_s": 3.5,
            "events_interval_s": 10,
            "events_buffer": 5000,
        },
        "drift": {
            "series": ["nmse_db", "beam_db", "throughput"],
            "lower_is_worse": ["throughput"],
            "min_points": 60,
            "history_points": 7200,
            "delta": 0.25,
            "threshold": 40,
            "alpha": 0.99,
        },
        "adaptation": {
            "method": "lasco",
            "min_samples": 384,
            "max_samples": 30000,
            "val_fraction": 0.15,
            "held_out_fraction": 0.25,
            "gate_margin_db": 0.2,
            "lr": 0.0005,
            "max_epochs": 50,
            "patience": 10,
            "batch_size": 128,
            "seed": 7,
            "ort_threads": 2,
            "phase_views": 8,
        },
        "store": {
            "uri": "s3://csi/models",
            "trusted_keys": [TRUSTED],
            "policy_uri": "s3://csi/models-xapp",
        },
        "data": {"uri": "s3://csi/data"},
        "a1": {
            "url": "pms+http://policymanagementservice.nonrtric:8081",
            "ric_id": "ric-1",
            "service_id": "csi-rapp-1",
            "attempts": 6,
            "enforce_timeout_s": 45,
        },
    },
}
CASES = {
    "defaults": {},
    "all": ALL,
    "in-process": IN_PROCESS,
    "remote-jobs": REMOTE_JOBS,
    "no-network-policy": NO_NETWORK_POLICY,
}
