"""The ringed rollout: IoT jobs per ring, the ring gate, rollback."""
