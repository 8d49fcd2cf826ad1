"""The shop: orders, payments, notifications and the RocketMQ listeners that connect them."""
