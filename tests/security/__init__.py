"""Security tests of the gateway: one package, so its gateway processes and servers stop when its tests are done."""
