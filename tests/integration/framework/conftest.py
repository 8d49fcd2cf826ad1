"""Framework-layer end-to-end tests use the ``rocketmq`` pytest plugin's session cluster.

Its broker.conf (1 s delay levels, SQL92 filtering on, half messages checked back after 1 s) is the
``rocketmq_broker_conf`` fixture of ``tests/conftest.py``: the plugin's cluster is one per test
process (xdist worker), shared by tests/django and this directory, so there is one definition.
"""
