"""Logs in the RIC's mdclog JSON format."""

import json
import logging

from xapp.logs import MdcLogHandler


def test_python_logging_comes_out_as_mdclog_json_lines(capsys):
    log = logging.getLogger("xapp.test-logs")
    log.propagate = False
    handler = MdcLogHandler("csi-xapp")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        log.warning("dropped %d reports", 3)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["crit"] for x in lines] == ["WARNING", "ERROR"]
    assert lines[0]["id"] == "csi-xapp" and lines[0]["msg"] == "[xapp.test-logs] dropped 3 reports"
    assert {"PID", "HOST_NAME", "SYSTEM_NAME", "SERVICE_NAME"} <= set(lines[0]["mdc"])
    assert isinstance(lines[0]["ts"], int) and "ValueError: boom" in lines[1]["msg"]
