"""The non-RT rApp: it watches the xApp's telemetry for drift, adapts environments' proxy SAMs
on their labelled samples, publishes them to the model store and pushes A1 policies."""
