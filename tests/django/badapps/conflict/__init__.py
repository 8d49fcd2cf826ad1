"""An app whose listeners share a consumer group with different subscriptions (rocketmq.E006)."""
