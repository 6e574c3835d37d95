"""Real local stand-ins the tests run against: moto in server mode, a fault-injecting proxy, PostgreSQL."""
