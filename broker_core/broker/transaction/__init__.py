"""Transactional messages (storage spec 6): half messages, op messages and the check-back service.

* :mod:`.half` — storing half messages in ``RMQ_SYS_TRANS_HALF_TOPIC`` and building the committed copy.
* :mod:`.op` — op messages in ``RMQ_SYS_TRANS_OP_HALF_TOPIC`` marking half offsets as finished.
* :mod:`.checker` — the periodic CHECK_TRANSACTION_STATE task.

END_TRANSACTION itself is handled by :mod:`broker_core.broker.processors.end_transaction`.
"""
