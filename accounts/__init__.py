"""Users who log in by email, registration, JWT and session login, paper-account settings."""
