"""LASCO-RIC as one system on one machine: the closed-loop demo (``lasco-ric demo``) that runs
simulated E2 nodes, the xApp, the rApp, a local A1 mediator and a real InfluxDB together."""
