"""An app whose listener declaration is invalid (rocketmq.E005)."""
