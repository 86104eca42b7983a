"""The xApp chart's ports, Services and NetworkPolicy (helm/csi-xapp): the container's ports
and the Services are the descriptor's, the subscription manager's callback port is open
only in its mode, and the NetworkPolicy admits only what the xApp serves and reaches only
what it calls, with its options.
"""

from __future__ import annotations

from tests.deploy.kube import container, one
from tests.deploy.xapp_chart import ALL_FEATURES, NAMESPACE, env_of, port_named, render


def test_ports_match_the_services_and_the_container(descriptor, defaults):
    rmr = one(defaults, "Service", f"service-{NAMESPACE}-csi-xapp-rmr")
    http = one(defaults, "Service", f"service-{NAMESPACE}-csi-xapp-http")
    c = container(defaults)
    cports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for port in descriptor["messaging"]["ports"]:
        assert cports[port["name"]] == port["port"]
        service = rmr if "rmr" in port["name"] else http
        (sp,) = [p for p in service["spec"]["ports"] if p["name"] == port["name"]]
        assert (sp["port"], sp["targetPort"]) == (port["port"], port["name"])
    assert [p["name"] for p in rmr["spec"]["ports"]] == ["rmrdata", "rmrroute"]
    # ricxappframe registers the first port of the HTTP Service with appmgr
    assert http["spec"]["ports"][0]["name"] == "http"
    controls = descriptor["controls"]["subscription"]
    (notify,) = [p for p in http["spec"]["ports"] if p["name"] == "submgr-notify"]
    assert notify["port"] == cports["submgr-notify"] == controls["callback_port"]
    assert controls["rmr_port"] == port_named(descriptor, "rmrdata")["port"]
    env = env_of(defaults)
    assert env["RMR_RTG_SVC"]["value"] == str(port_named(descriptor, "rmrroute")["port"])
    assert env["RMR_SRC_ID"]["value"] == f"service-{NAMESPACE}-csi-xapp-rmr.{NAMESPACE}"
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == descriptor[probe]["httpGet"]
        assert c[probe]["periodSeconds"] == descriptor[probe]["periodSeconds"]
    for service in (rmr, http):
        assert (
            service["spec"]["selector"].items()
            <= one(defaults, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
        )


def test_submgr_callback_port_is_only_open_in_submgr_mode():
    docs = render({"controls": {"subscription": {"mode": "rmr"}}})
    http = one(docs, "Service", f"service-{NAMESPACE}-csi-xapp-http")
    assert [p["name"] for p in http["spec"]["ports"]] == ["http"]
    assert "submgr-notify" not in {p["name"] for p in container(docs)["ports"]}
    rules = one(docs, "NetworkPolicy")["spec"]["ingress"]
    assert "submgr-notify" not in {p["port"] for r in rules for p in r["ports"]}
    moved = render({"controls": {"subscription": {"callback_port": 9090}}})
    assert {p["containerPort"] for p in container(moved)["ports"]} >= {9090}


def namespaces_of(rule: dict, key: str) -> set[str]:
    out = set()
    for peer in rule[key]:
        sel = peer.get("namespaceSelector", {})
        out |= set(sel.get("matchLabels", {}).values())
        for e in sel.get("matchExpressions", []):
            assert (e["key"], e["operator"]) == ("kubernetes.io/metadata.name", "In")
            out |= set(e["values"])
    return out


def test_network_policy_admits_only_what_the_xapp_serves(defaults, descriptor):
    np = one(defaults, "NetworkPolicy")
    assert np["spec"]["podSelector"]["matchLabels"].items() <= (
        one(defaults, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    by_port = {}
    for rule in np["spec"]["ingress"]:
        for p in rule["ports"]:
            by_port[p["port"]] = namespaces_of(rule, "from")
    served = {p["name"] for p in container(defaults)["ports"]}
    assert set(by_port) == served
    assert by_port["rmrdata"] == by_port["rmrroute"] == {"ricplt"}
    assert by_port["http"] == {"ricplt", "monitoring"}
    assert by_port["submgr-notify"] == {"ricplt"}
    egress = {
        (p["port"], p.get("protocol", "TCP")): namespaces_of(r, "to")
        for r in np["spec"]["egress"]
        for p in r["ports"]
    }
    assert egress[(53, "UDP")] == egress[(53, "TCP")] == {"kube-system"}
    assert egress[(6379, "TCP")] == {"ricplt"}  # DBAAS
    assert egress[(4562, "TCP")] == {"ricplt"}  # the A1 mediator's RMR port
    assert egress[(8086, "TCP")] == {"ricplt"}  # InfluxDB


def test_network_policy_options(featured):
    np = one(featured, "NetworkPolicy")
    ingress = np["spec"]["ingress"]
    rmr = next(r for r in ingress if {"port": "rmrdata", "protocol": "TCP"} in r.get("ports", []))
    assert namespaces_of(rmr, "from") == {"ricplt", "ricxapp"}
    http = next(r for r in ingress if {"port": "http", "protocol": "TCP"} in r.get("ports", []))
    assert namespaces_of(http, "from") == {"ricplt", "observability"}
    assert ALL_FEATURES["networkPolicy"]["ingress"]["extra"][0] in ingress
    egress = np["spec"]["egress"]
    store = next(r for r in egress if {"port": 9000, "protocol": "TCP"} in r["ports"])
    assert {"ipBlock": {"cidr": "10.20.0.0/16"}} in store["to"]
    assert namespaces_of(store, "to") == {"minio"}
    influx = next(r for r in egress if {"port": 8086, "protocol": "TCP"} in r["ports"])
    assert namespaces_of(influx, "to") == {"observability"}
    assert ALL_FEATURES["networkPolicy"]["egress"]["extra"][0] in egress
    off = render({"networkPolicy": {"enabled": False}})
    assert "NetworkPolicy" not in {d["kind"] for d in off}
