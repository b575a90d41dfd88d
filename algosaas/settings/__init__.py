"""Settings: ``base`` (everything, from the environment), ``production`` and ``test`` on top."""
