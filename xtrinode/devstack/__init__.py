"""The devstack: everything `xtrinode dev up` runs on one machine with no cluster.

`kubeapi` is the Kubernetes API server emulator the official clients and kubectl talk to.
"""
