"""The devstack: everything `xtrinode dev up` runs on one machine with no cluster.

`kubeapi` is the Kubernetes API server emulator the official clients and kubectl talk to (`realkube` runs
the real control plane instead, `dev up --kube real`); `kubelet`
makes its Deployments real as local processes of `trino`, the Trino protocol emulator; `resolver`
maps in-cluster Service addresses to those processes for the lifecycle and the gateway.
"""
