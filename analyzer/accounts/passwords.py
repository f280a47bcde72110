"""Password policy and Argon2id hashing."""

import functools
import os
import threading

import argon2

MIN_LENGTH = 10
MAX_LENGTH = 1024
# Argon2id with RFC 9106's low-memory profile (64 MiB, 3 passes); tests use the cheapest profile.
STRONG = argon2.PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY)
CHEAP = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)
# Argon2id checks at once, each 64 MiB and about 160 ms of a core: a burst of sign-ins queues for half the cores
# (of the host: os.cpu_count ignores a container's CPU quota) instead of taking all of them, and the memory.
HASHES_AT_ONCE = max(1, min(4, (os.cpu_count() or 2) // 2))
HASHING = threading.BoundedSemaphore(HASHES_AT_ONCE)


class PasswordRejected(ValueError):
    """A password that the policy does not accept; the message says why."""


def hasher(cheap=False):
    """Return the Argon2id hasher: the strong one, or the cheap one for tests."""
    return CHEAP if cheap else STRONG


def check(password, email=""):
    """Raise PasswordRejected unless PASSWORD is long enough and not a common or obvious one."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"The password must have at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"The password must have at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    name = email.split("@", 1)[0].lower()
    if lowered in common_passwords() or len(set(lowered)) < 4:
        raise PasswordRejected("This password is too common or too easy to guess: choose another.")
    if name and len(name) >= 4 and name in lowered:
        raise PasswordRejected(f"The password must not contain the name of the email address ({name}).")


@functools.cache
def common_passwords():
    """Return the 30,000 most common passwords (zxcvbn's list, from real leaks)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


@functools.cache
def dummy_hash(cheap=False):
    """Return a hash that no password matches, to compare against for unknown accounts."""
    return hash_password("no such user: " + "x" * 32, cheap)


def hash_password(password, cheap=False):
    """Return the Argon2id hash of PASSWORD."""
    with HASHING:
        return hasher(cheap).hash(password)


def verify(password_hash, password, cheap=False):
    """Tell whether PASSWORD matches PASSWORD_HASH."""
    try:
        with HASHING:
            return hasher(cheap).verify(password_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False
