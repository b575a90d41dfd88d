"""Password hashers. The fast variant exists for the test suite only (same algorithm name)."""

from django.contrib.auth.hashers import BCryptSHA256PasswordHasher


class FastBCryptSHA256PasswordHasher(BCryptSHA256PasswordHasher):
    """bcrypt-SHA256 at the minimum work factor: identical format, ~100x faster to test."""

    rounds = 4
