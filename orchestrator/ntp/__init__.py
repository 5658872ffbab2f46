"""The sans-I/O NTP protocol core: codec, timestamps, server decision, access, rate limit, keys.

Nothing here does I/O or reads a clock: time and randomness are passed in.
"""
