"""sample_project: a small shop on RocketMQ — what ``make run`` starts.

Orders are placed on the site and published after the DB commit; listeners charge the payment
(ordered per order id), review big orders (SQL92 filter), invalidate the shared cache (broadcast)
and notify the customer, who gets a receipt from a Celery task over ``rocketmq://``. Staff watch it
all on the RocketMQ dashboard. See ``run.py`` for the processes, ``celery_app.py`` for Celery and ``shop/`` for the flow.
"""
