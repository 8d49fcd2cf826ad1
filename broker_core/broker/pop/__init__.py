"""5.x POP consumption: invisible-time leases, acks, revive to the pop retry topic."""
