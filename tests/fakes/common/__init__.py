"""What the fake brokers (``tests/fakes/kite``, ``tests/fakes/dhan``) share: the loopback server
and the order book's clock and bar matching. Each broker keeps its own wire shapes."""
