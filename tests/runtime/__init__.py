"""Real-process tests: rendered clusters run by Patroni, PostgreSQL and etcd on this machine."""
