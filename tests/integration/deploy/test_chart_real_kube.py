"""The Helm chart on the real control plane (kube-apiserver, controller-manager, scheduler, etcd from
devstack.realkube), driven by helm and kubectl as a platform engineer would.

Checks, in order: `helm install` succeeds (runtimes everywhere); `kubectl auth can-i --as=<each
ServiceAccount>` says yes to every verb its code calls (tests/unit/deploy/kube_calls.py reads them) and
no to what it does not call (Secrets for the gateway and the API server anywhere, writes the code never
makes); the operator, worker and gateway processes run with their ServiceAccount's token and nothing else:
the operator takes its Lease and puts its finalizer on a new XTrinode, the worker applies what render
makes for it and writes its status, the gateway loads its route table;
the real apiserver calls the chart's webhook (served by that operator with the chart's certificate):
kubectl shows a refusal with the rule's message, warnings, and the valuesOverlay gate refusing a user
without the permission; `helm upgrade` to runtimes in one namespace swaps the ClusterRoles for Roles
there, after which every ServiceAccount is refused Secrets in every other namespace and the API server
(its own token) still lists the runtimes; `helm uninstall` leaves nothing behind (namespaces,
cluster-wide objects, Roles in the runtime namespace, CRDs with crds.keep=false, the helm release)
once the runtimes were deleted through their lifecycle (with the worker's token).
Pods do not run here (no kubelet): the processes run on this machine with the ServiceAccounts' tokens.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from tests.unit.deploy.chart_testkit import CHART, helm_binary
from tests.unit.deploy.kube_calls import Permission, component_permissions
from devstack.ports import free_port as _free_port

pytestmark = [pytest.mark.slow, pytest.mark.real_kube, pytest.mark.shared_services, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
SYS, GW, TEAM, OTHER = "xtrinode-system", "xtrinode-gateway", "team-a", "team-b"
ACCOUNTS = {"operator": (SYS, "xtrinode-operator"), "worker": (SYS, "xtrinode-worker"),
            "api-server": (SYS, "xtrinode-api-server"), "gateway": (GW, "xtrinode-gateway")}


@dataclass
class Cluster:
    plane: Any
    dir: Path
    kubeconfig: Path
    temporal_address: str
    webhook_port: int

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.dir / "kubecache"),
                "HELM_CACHE_HOME": str(self.dir / "helm-cache"), "HELM_CONFIG_HOME": str(self.dir / "helm-config"),
                "HELM_DATA_HOME": str(self.dir / "helm-data")}

    def run(self, *argv: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(list(argv), capture_output=True, text=True, env=self.env(), input=stdin, timeout=120,
                                check=False)
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(argv[:4])}... failed ({result.returncode}): {result.stderr[-1500:]}")
        return result

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(str(Path(sys.executable).parent / "kubectl"), *args, check=check, stdin=stdin)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(helm_binary(), *args, check=check)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def values(self, restricted: bool = False) -> Path:
        values: dict[str, Any] = {
            "temporal": {"address": self.temporal_address},
            "crds": {"keep": False},
            "webhook": {"url": f"https://127.0.0.1:{self.webhook_port}"},
            "apiServer": {"auth": {"tokens": {"existingSecret": "xtrinode-api-tokens"}}},
        }
        if restricted:
            values["runtimeNamespaces"] = [TEAM]
        path = self.dir / ("restricted.yaml" if restricted else "values.yaml")
        path.write_text(yaml.safe_dump(values))
        return path

    def can_i(self, account: str, verb: str, resource: str, namespace: str | None) -> bool:
        ns, name = ACCOUNTS[account]
        where = ["--all-namespaces"] if namespace == "*" else ["-n", namespace] if namespace else []
        result = self.kubectl("auth", "can-i", verb, resource, *where, f"--as=system:serviceaccount:{ns}:{name}",
                              check=False)
        answer = result.stdout.strip()
        assert answer in ("yes", "no"), f"can-i {verb} {resource}: {result.stdout} {result.stderr}"
        return answer == "yes"

    def service_account_kubeconfig(self, account: str) -> Path:
        ns, name = ACCOUNTS[account]
        token = self.kubectl("create", "token", name, "-n", ns, "--duration=1h").stdout.strip()
        from devstack.realkube.controlplane import kubeconfig_document

        path = self.dir / f"{account}.kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig_document(self.plane.url, self.plane.plane.pki.ca_cert.read_bytes(),
                                                           token, user=name)))
        path.chmod(0o600)
        return path


@pytest.fixture(scope="module")
def cluster(real_kube: Any, temporal_client: Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("chart-real")
    kubeconfig = real_kube.write_kubeconfig(root / "admin.kubeconfig")
    yield Cluster(real_kube, root, Path(kubeconfig), temporal_client.service_client.config.target_host, _free_port())


class Processes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        self.stop(name)
        with (self.root / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "xtrinode.cli", *argv], stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=REPO)
        self.started[name] = proc
        return proc

    def stop(self, *names: str) -> None:
        for name in names or list(self.started):
            proc = self.started.pop(name, None)
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@pytest.fixture(scope="module")
def processes(cluster: Cluster) -> Iterator[Processes]:
    running = Processes(cluster.dir)
    yield running
    running.stop()


def _eventually(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def _http(url: str, token: str | None = None) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def _can_i_args(p: Permission, runtime_namespace: str, cluster_wide: bool) -> tuple[str, str, str | None, str]:
    """(verb, resource[.group][/name], namespace or '*' or None, subresource) for `kubectl auth can-i`."""
    base, _, sub = p.resource.partition("/")
    resource = f"{base}.{p.group}" if p.group else base
    if p.name:
        resource = f"{resource}/{p.name}"
    namespace = {"runtime": runtime_namespace, "system": SYS, "gateway": GW, "cluster": None}[p.scope]
    if p.scope == "runtime" and cluster_wide and p.verb in ("list", "watch"):
        namespace = "*"  # the code lists across namespaces when it runs everywhere
    return p.verb, resource, namespace, sub


def _check_can(cluster: Cluster, account: str, permissions: frozenset[Permission], runtime_ns: str,
               cluster_wide: bool) -> list[str]:
    checks = []
    for p in sorted(permissions):
        verb, resource, namespace, sub = _can_i_args(p, runtime_ns, cluster_wide)
        checks.append((verb, resource, namespace, sub, str(p)))

    def one(check: tuple[str, str, str | None, str, str]) -> str | None:
        verb, resource, namespace, sub, label = check
        args = [resource] if not sub else [resource, f"--subresource={sub}"]
        ns, name = ACCOUNTS[account]
        where = ["--all-namespaces"] if namespace == "*" else ["-n", namespace] if namespace else []
        result = cluster.kubectl("auth", "can-i", verb, *args, *where, f"--as=system:serviceaccount:{ns}:{name}",
                                 check=False)
        return None if result.stdout.strip() == "yes" else f"{label}: {result.stdout.strip()} {result.stderr.strip()}"

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return [problem for problem in pool.map(one, checks) if problem]


def test_helm_install_succeeds(cluster: Cluster) -> None:
    for ns in (TEAM, OTHER):
        cluster.kubectl("create", "namespace", ns)
    # KEDA's ScaledObject CRD, as a cluster with KEDA has it (the worker applies and pauses ScaledObjects).
    cluster.kubectl("apply", "-f", str(REPO / "deploy" / "crds" / "third-party" / "keda.sh_scaledobjects.yaml"))
    result = cluster.helm("install", "xtrinode", str(CHART), "--namespace", "default", "--values",
                          str(cluster.values()), "--timeout", "2m")
    assert "STATUS: deployed" in result.stdout
    deployments = {d["metadata"]["name"] for d in cluster.json("get", "deployments", "-n", SYS)["items"]}
    assert deployments == {"xtrinode-operator", "xtrinode-worker", "xtrinode-api-server"}
    assert cluster.json("get", "deployment", "xtrinode-gateway", "-n", GW)["spec"]["replicas"] == 1
    crds = cluster.kubectl("get", "crd", "-o", "name").stdout
    assert "xtrinodes.analytics.xtrinode.io" in crds and "xtrinodecatalogs.analytics.xtrinode.io" in crds
    assert len(cluster.json("get", "networkpolicies", "-n", SYS)["items"]) >= 4
    # The chart's namespaces enforce the restricted Pod Security Standard, and the real API server's
    # PodSecurity admission lets a pod of every component in (a refused pod would be a FailedCreate).
    for ns in (SYS, GW):
        assert cluster.json("get", "namespace", ns)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] \
            == "restricted"

    def components() -> set[str]:
        return {p["metadata"]["labels"].get("app.kubernetes.io/component")
                for ns in (SYS, GW) for p in cluster.json("get", "pods", "-n", ns)["items"]}

    _eventually(lambda: components() >= {"operator", "worker", "api-server", "gateway"},
                "a pod of every component admitted under the restricted standard")
    refused = [e.get("message", "") for ns in (SYS, GW) for e in cluster.json("get", "events", "-n", ns)["items"]
               if "PodSecurity" in e.get("message", "")]
    assert not refused, refused
    # A pod with no security context at all (root allowed, escalation allowed, no seccomp) is refused.
    result = cluster.kubectl("run", "intruder", "-n", SYS, "--image=busybox", check=False)
    assert result.returncode != 0 and 'violates PodSecurity "restricted' in result.stderr, result.stderr


@pytest.mark.parametrize("account", list(ACCOUNTS))
def test_each_service_account_may_do_every_verb_its_code_calls(cluster: Cluster, account: str) -> None:
    problems = _check_can(cluster, account, component_permissions(account), TEAM, cluster_wide=True)
    assert not problems, f"{account} is refused what its code calls: {problems}"


def test_service_accounts_are_refused_what_their_code_never_calls(cluster: Cluster) -> None:
    refused = [
        ("gateway", "get", "secrets", GW), ("gateway", "list", "secrets", "*"), ("gateway", "get", "secrets", TEAM),
        ("api-server", "get", "secrets", SYS), ("api-server", "list", "secrets", "*"),
        ("gateway", "update", "configmaps/trino-gateway-routes", GW), ("gateway", "get", "configmaps", SYS),
        ("worker", "create", "secrets", TEAM), ("worker", "list", "secrets", TEAM),
        ("worker", "update", "configmaps/something-else", GW), ("worker", "delete", "xtrinodes", TEAM),
        ("operator", "delete", "xtrinodes", TEAM), ("operator", "create", "deployments", TEAM),
        ("operator", "update", "leases/another-lease", SYS), ("api-server", "patch", "xtrinodes", TEAM),
        ("gateway", "create", "pods", GW), ("worker", "create", "clusterroles", None),
    ]
    allowed = [args for args in refused if cluster.can_i(*args)]
    assert not allowed, f"granted but never called by the code: {allowed}"


def start_operator(cluster: Cluster, processes: Processes, namespaces: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """`xtrinode operator` as the chart runs it, with the operator ServiceAccount's token and the chart's
    webhook certificate (from the Secret the chart generated)."""
    kubeconfig = cluster.service_account_kubeconfig("operator")
    argv = ["operator", f"--temporal-address={cluster.temporal_address}", f"--lease-namespace={SYS}",
            f"--kubeconfig={kubeconfig}", f"--health-port={_free_port()}", "--resync-period=30s",
            *(f"--namespace={ns}" for ns in namespaces)]
    secret = cluster.json("get", "secret", "xtrinode-webhook-tls", "-n", SYS)
    for key in ("tls.crt", "tls.key"):
        (cluster.dir / key).write_bytes(base64.b64decode(secret["data"][key]))
    (cluster.dir / "tls.key").chmod(0o600)
    argv += [f"--webhook-cert={cluster.dir / 'tls.crt'}", f"--webhook-key={cluster.dir / 'tls.key'}",
             f"--webhook-port={cluster.webhook_port}", "--webhook-host=127.0.0.1"]
    return processes.start("operator", *argv)


def start_worker(cluster: Cluster, processes: Processes, namespaces: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """`xtrinode worker` as the chart runs it, with the worker ServiceAccount's token: the workflows the
    operator starts run their Kubernetes activities with exactly the chart's RBAC."""
    kubeconfig = cluster.service_account_kubeconfig("worker")
    return processes.start("worker", "worker", f"--temporal-address={cluster.temporal_address}",
                           f"--kubeconfig={kubeconfig}", f"--gateway-namespace={GW}",
                           f"--control-plane-namespace={SYS}", f"--health-port={_free_port()}",
                           *(f"--namespace={ns}" for ns in namespaces))


@pytest.fixture(scope="module")
def operator(cluster: Cluster, processes: Processes) -> subprocess.Popen[bytes]:
    return start_operator(cluster, processes)


@pytest.fixture(scope="module")
def worker(cluster: Cluster, processes: Processes, operator: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    return start_worker(cluster, processes)


RUNTIME = """apiVersion: analytics.xtrinode.io/v1
kind: XTrinode
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  size: xs
  suspended: true
  minWorkers: {min}
  maxWorkers: {max}
{extra}"""
"""Suspended: provisioning applies everything with zero replicas and ends (no kubelet runs pods here),
so a delete runs at once instead of waiting for a coordinator that never starts."""


def test_the_operator_and_worker_run_on_their_service_accounts(
    cluster: Cluster, operator: subprocess.Popen[bytes], worker: subprocess.Popen[bytes]
) -> None:
    lease = _eventually(lambda: cluster.kubectl("get", "lease", "xtrinode-operator", "-n", SYS, "-o", "json",
                                                check=False).stdout, "the operator's Lease")
    assert json.loads(lease)["spec"]["holderIdentity"]
    # The apiserver must reach the webhook before any XTrinode is admitted (failurePolicy Fail).
    _eventually(lambda: _port_open(cluster.webhook_port), "the webhook port")
    cluster.kubectl("apply", "-f", "-", stdin=RUNTIME.format(name="demo", namespace=TEAM, min=0, max=1, extra=""))
    finalizers = _eventually(lambda: cluster.json("get", "xtrinode", "demo", "-n", TEAM)["metadata"].get("finalizers"),
                             f"the operator's finalizer (log {cluster.dir / 'operator.log'})")
    assert finalizers == ["analytics.xtrinode.io/lifecycle"]
    # The worker provisions it with its own token: server-side apply (create, then patch) of everything
    # render makes, and the status (Suspended: zero replicas, as created).
    _eventually(lambda: cluster.kubectl("get", "deployment", "trino-demo-coordinator", "-n", TEAM,
                                        check=False).returncode == 0,
                f"the worker's apply (log {cluster.dir / 'worker.log'})", 90)
    managers = {m["manager"] for m in cluster.json("get", "deployment", "trino-demo-coordinator", "-n", TEAM,
                                                   "--show-managed-fields")["metadata"]["managedFields"]}
    assert "xtrinode" in managers
    kinds = {o["kind"] for o in cluster.json("get", "configmaps,services,serviceaccounts,networkpolicies,"
                                             "poddisruptionbudgets,deployments", "-n", TEAM,
                                             "-l", "app.kubernetes.io/instance=demo")["items"]}
    assert kinds >= {"ConfigMap", "Service", "ServiceAccount", "NetworkPolicy", "Deployment"}, kinds
    _eventually(lambda: (cluster.json("get", "xtrinode", "demo", "-n", TEAM).get("status") or {}).get("phase")
                == "Suspended", "phase Suspended in the XTrinode's status, written by the worker", 90)
    log = (cluster.dir / "worker.log").read_text() + (cluster.dir / "operator.log").read_text()
    assert "forbidden" not in log.lower() and "HTTP 403" not in log, log[-3000:]
    assert operator.poll() is None and worker.poll() is None


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_the_real_apiserver_calls_the_charts_webhook(cluster: Cluster, operator: subprocess.Popen[bytes]) -> None:
    _eventually(lambda: _port_open(cluster.webhook_port), "the webhook port")
    http_off = '  valuesOverlay: {trino: {config: {http-server.http.enabled: "false"}}}\n'
    refused = cluster.kubectl("apply", "-f", "-", check=False,
                              stdin=RUNTIME.format(name="bad", namespace=TEAM, min=0, max=1, extra=http_off))
    assert refused.returncode != 0
    assert 'admission webhook "xtrinodes.analytics.xtrinode.io" denied the request' in refused.stderr, refused.stderr
    assert "http-server.http.enabled" in refused.stderr
    overlay = '  valuesOverlay: {image: {tag: "480"}}\n'
    warned = cluster.kubectl("apply", "-f", "-", stdin=RUNTIME.format(name="overlay", namespace=TEAM, min=0, max=1,
                                                                      extra=overlay))
    assert "Warning: spec.valuesOverlay" in warned.stderr, warned.stderr
    # alice may edit XTrinodes in the namespace (ordinary RBAC) but not xtrinodes/valuesoverlay: the
    # webhook asks the apiserver (a SubjectAccessReview with the operator's token) and refuses.
    cluster.kubectl("create", "role", "runtime-editor", "-n", TEAM, "--verb=get,list,create,update,patch",
                    "--resource=xtrinodes.analytics.xtrinode.io")
    cluster.kubectl("create", "rolebinding", "alice-edits", "-n", TEAM, "--role=runtime-editor", "--user=alice")
    plain = cluster.kubectl("apply", "-f", "-", "--as=alice",
                            stdin=RUNTIME.format(name="plain", namespace=TEAM, min=0, max=1, extra=""))
    assert "created" in plain.stdout
    gated = cluster.kubectl("apply", "-f", "-", "--as=alice", check=False,
                            stdin=RUNTIME.format(name="gated", namespace=TEAM, min=0, max=1, extra=overlay))
    assert gated.returncode != 0 and "denied the request" in gated.stderr, gated.stderr
    assert "valuesoverlay" in gated.stderr.lower(), gated.stderr


def test_the_gateway_loads_its_routes_with_its_service_account(cluster: Cluster, processes: Processes) -> None:
    kubeconfig = cluster.service_account_kubeconfig("gateway")
    port, internal = _free_port(), _free_port()
    config = cluster.dir / "gateway.yaml"
    config.write_text(yaml.safe_dump({"gateway": {
        "listen": {"host": "127.0.0.1", "port": port}, "internal": {"host": "127.0.0.1", "port": internal},
        "routes": {"namespace": GW}, "kube": {"kubeconfig": str(kubeconfig)},
        "temporal": {"address": cluster.temporal_address}}}))
    processes.start("gateway", "gateway", f"--config={config}")
    _eventually(lambda: _http(f"http://127.0.0.1:{internal}/readyz")[0] == 200,
                f"gateway /readyz (route table listed with its token; log {cluster.dir / 'gateway.log'})")
    log = (cluster.dir / "gateway.log").read_text()
    assert "403" not in log and "forbidden" not in log.lower(), log[-2000:]


def test_helm_upgrade_to_one_runtime_namespace_refuses_secrets_elsewhere(
    cluster: Cluster, processes: Processes
) -> None:
    result = cluster.helm("upgrade", "xtrinode", str(CHART), "--namespace", "default", "--values",
                          str(cluster.values(restricted=True)))
    assert "STATUS: deployed" in result.stdout and "REVISION: 2" in result.stdout
    cluster_roles = {r["metadata"]["name"] for r in cluster.json("get", "clusterroles", "-l",
                                                                  "app.kubernetes.io/part-of=xtrinode")["items"]}
    assert cluster_roles <= {"xtrinode-operator-webhook"}, cluster_roles
    roles = {r["metadata"]["name"] for r in cluster.json("get", "roles", "-n", TEAM, "-l",
                                                          "app.kubernetes.io/part-of=xtrinode")["items"]}
    assert roles == {"xtrinode-operator", "xtrinode-worker", "xtrinode-api-server"}
    # The chart's pods would roll with --namespace=team-a; so do these processes.
    start_operator(cluster, processes, (TEAM,))
    start_worker(cluster, processes, (TEAM,))
    for account in ACCOUNTS:
        problems = _check_can(cluster, account, component_permissions(account), TEAM, cluster_wide=False)
        assert not problems, f"{account} after the upgrade: {problems}"
        for namespace in (OTHER, "default", "kube-system", "*"):
            for verb in ("get", "list", "watch"):
                assert not cluster.can_i(account, verb, "secrets", namespace), \
                    f"{account} may {verb} Secrets in {namespace} outside its runtime namespace"
    for account in ("operator", "worker"):
        assert cluster.can_i(account, "list" if account == "operator" else "get", "secrets", TEAM)
    # The API server with its own token lists the runtimes namespace by namespace.
    token = "admin-" + os.urandom(8).hex()
    tokens = cluster.dir / "tokens.yaml"
    tokens.write_text(yaml.safe_dump([{"name": "admin", "token": token, "scopes": ["admin"]}]))
    port = _free_port()
    config = cluster.dir / "api-server.yaml"
    config.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": port}, "temporal": {"address": cluster.temporal_address},
        "kube": {"kubeconfig": str(cluster.service_account_kubeconfig("api-server")), "namespaces": [TEAM]},
        "auth": {"tokens": {"file": str(tokens)}}}))
    processes.start("api-server", "api-server", f"--config={config}")
    _eventually(lambda: _http(f"http://127.0.0.1:{port}/readyz")[0] == 200, "the API server ready")
    status, body = _http(f"http://127.0.0.1:{port}/v1/runtimes", token)
    assert status == 200, body
    assert {(r["namespace"], r["name"]) for r in json.loads(body)["items"]} >= {(TEAM, "demo")}


def test_helm_uninstall_leaves_nothing_behind(cluster: Cluster, processes: Processes) -> None:
    # The runtimes go first (deploy/README.md), while the operator and worker run: each DeleteRuntime
    # deletes what the runtime owns and lifts the finalizer, with the worker's token.
    cluster.kubectl("delete", "xtrinodes", "--all", "-n", TEAM, "--wait=false")
    _eventually(lambda: not cluster.json("get", "xtrinodes", "-n", TEAM)["items"],
                f"the runtimes deleted by their lifecycle (log {cluster.dir / 'worker.log'})", 120)
    assert not cluster.json("get", "deployments,configmaps,services,networkpolicies", "-n", TEAM,
                            "-l", "app.kubernetes.io/managed-by=xtrinode")["items"]
    processes.stop()  # nothing may write anything back while the release goes
    cluster.helm("uninstall", "xtrinode", "--namespace", "default", "--wait", "--timeout", "2m")
    _eventually(lambda: not [n for n in cluster.json("get", "namespaces")["items"]
                             if n["metadata"]["name"] in (SYS, GW)], "the system and gateway namespaces gone", 120)
    left = []
    for kind in ("clusterroles", "clusterrolebindings", "validatingwebhookconfigurations",
                 "customresourcedefinitions"):
        left += [f"{kind}/{o['metadata']['name']}" for o in cluster.json("get", kind)["items"]
                 if "xtrinode" in o["metadata"]["name"]]
    for selector in ("app.kubernetes.io/part-of=xtrinode", "app.kubernetes.io/managed-by=xtrinode"):
        left += [f"{o['kind']}/{o['metadata']['name']}" for o in cluster.json(
            "get", "roles,rolebindings,configmaps,secrets,serviceaccounts,services,deployments,networkpolicies",
            "-n", TEAM, "-l", selector)["items"]]
    assert not left, f"left behind: {left}"
    assert "xtrinode" not in cluster.helm("list", "--all-namespaces", "-q").stdout
