"""`xtrinode dev` without a running devstack (fast, no servers).

Checks: a port in use is refused with the flag to change; a second `dev up` on a live state dir is
refused; `dev status` and `dev down` on an empty state dir; JSON log lines keep `extra` fields and
hide secret-looking ones; `xtrinode gateway` and `xtrinode dev` are listed by `xtrinode --help`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

import pytest

from xtrinode.cli import main as xtrinode_main
from devstack.cli import main as dev_main
from devstack.jsonlog import JsonFormatter
from devstack.state import DevstackInfo, StateDir


def test_a_port_in_use_names_the_flag_to_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = dev_main(["up", "--state-dir", str(tmp_path), "--gateway-port", str(port), "--temporal-port", "0",
                         "--temporal-ui-port", "0", "--kube-port", "0"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"port {port} for the gateway is in use" in err and "--gateway-port" in err


def test_a_second_dev_up_on_a_live_state_dir_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = StateDir(tmp_path)
    state.create()
    state.write_info(DevstackInfo(supervisor_pid=os.getppid(), gateway_url="http://x", temporal_address="x:1",
                                  temporal_ui_url="http://x", kube_url="http://127.0.0.1:1", kubeconfig="k"))
    code = dev_main(["up", "--state-dir", str(tmp_path), "--gateway-port", "0", "--temporal-port", "0",
                     "--temporal-ui-port", "0", "--kube-port", "0"])
    assert code == 1
    assert "xtrinode dev down" in capsys.readouterr().err


def test_status_and_down_without_a_devstack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dev_main(["status", "--state-dir", str(tmp_path)]) == 1
    assert "no devstack runs" in capsys.readouterr().out
    assert dev_main(["status", "--json", "--state-dir", str(tmp_path)]) == 1
    assert json.loads(capsys.readouterr().out)["running"] is False
    assert dev_main(["down", "--state-dir", str(tmp_path)]) == 0


def test_json_log_lines_keep_extra_fields_and_hide_secrets() -> None:
    record = logging.LogRecord("xtrinode.lifecycle", logging.INFO, __file__, 1, "resumed %s", ("demo",), None)
    record.namespace, record.workflow_id, record.password = "analytics", "xtrinode/analytics/demo", "hunter2"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "resumed demo" and line["namespace"] == "analytics"
    assert line["workflow_id"] == "xtrinode/analytics/demo" and line["password"] == "<hidden>"


def test_help_lists_dev_and_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        xtrinode_main(["--help"])
    out = capsys.readouterr().out
    assert "dev" in out and "gateway" in out
