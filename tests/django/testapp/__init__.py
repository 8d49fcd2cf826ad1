"""An installed app whose ``listeners`` module the rocketmq app discovers."""
