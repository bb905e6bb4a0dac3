"""Sending rates as token buckets: overall, per SMTP server and per recipient domain.

A bucket fills with `rate` tokens a second up to `burst`; each message takes one. The wait for the
next token is computed from the clock, never slept blindly, so the real rate is the configured one
however long the SMTP dialogue itself takes.

Within one process the buckets live in memory. With CRM_MAIL_RATE_REDIS_URL (by default the Redis
of CRM_CELERY_BROKER_URL) they live in Redis, so every worker process shares the same rates: one
Lua script refills and takes atomically on Redis' own clock, and a worker takes a small block of
tokens at a time so that not every message costs a round trip.
"""
import logging
import math
import threading
import time
from typing import Callable, Protocol

from flask import current_app

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
#: A block of tokens taken from Redis is what the bucket makes in this many seconds (at least one).
BLOCK_SECONDS = 0.1


class Bucket(Protocol):
    rate: float

    def try_take(self) -> float:
        """Take a token if there is one (0.0); otherwise the seconds until there is one, taking nothing."""

    def reserve(self) -> float:
        """Take a token, now or in the future: the seconds to wait before using it."""


class TokenBucket:
    """A token bucket of this process (thread-safe)."""

    def __init__(self, rate: float, burst: float | None = None, *, clock: Clock = time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst or rate)  # by default a second's worth, at least one message
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def try_take(self) -> float:
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate

    def reserve(self) -> float:
        with self._lock:
            self._refill()
            self._tokens -= 1  # below zero: the tokens of the coming moments are promised, in order
            return max(0.0, -self._tokens / self.rate)


# Refill on Redis' clock (every worker sees the same time), then grant up to ARGV[3] whole tokens, or
# with ARGV[4] == "1" reserve them (the count may go below zero; the reply says how long to wait).
# Replies {granted, wait in microseconds}: a Lua number would reach Python cut to an integer.
_SCRIPT = """
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then
  tokens, at = burst, now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000000)
local granted, wait = 0, 0
if ARGV[4] == '1' then
  granted = want
  tokens = tokens - want
  if tokens < 0 then wait = -tokens / rate end
elseif tokens >= 1 then
  granted = math.min(want, math.floor(tokens))
  tokens = tokens - granted
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.0f', now))
-- A key left alone until the bucket is full again may go: a missing key is a full bucket.
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {granted, math.ceil(wait * 1000000)}
"""


class RedisBucket:
    """A token bucket in Redis, shared by every worker process; tokens are fetched in blocks."""

    def __init__(self, client, key: str, rate: float, burst: float | None = None, *, block: int | None = None,
                 clock: Clock = time.monotonic):  # fmt: skip
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.key, self.rate = key, rate
        self.burst = max(1.0, burst or rate)
        self.block = block or max(1, min(int(self.burst), int(rate * BLOCK_SECONDS)))
        self._script = client.register_script(_SCRIPT)
        from redis import RedisError  # here: a process without shared limits does without redis' 10 MB

        self._errors = RedisError
        self._clock = clock
        self._held = 0
        # Held tokens are valid as long as the bucket takes to make them, so a worker cannot save up a burst.
        self._held_until = 0.0
        self._lock = threading.Lock()
        self._fallback: TokenBucket | None = None

    def _take_held(self) -> bool:
        if self._held and self._clock() < self._held_until:
            self._held -= 1
            return True
        self._held = 0
        return False

    def _call(self, want: int, reserve: bool) -> tuple[int, float]:
        granted, wait = self._script(keys=[self.key], args=[self.rate, self.burst, want, "1" if reserve else "0"])
        return int(granted), int(wait) / 1_000_000

    def try_take(self) -> float:
        with self._lock:
            if self._take_held():
                return 0.0
            try:
                granted, wait = self._call(self.block, reserve=False)
            except self._errors as error:
                return self._local(error).try_take()
            if granted:
                self._held = granted - 1
                self._held_until = self._clock() + granted / self.rate
                return 0.0
            return wait

    def reserve(self) -> float:
        with self._lock:
            if self._take_held():
                return 0.0
            try:
                return self._call(1, reserve=True)[1]
            except self._errors as error:
                return self._local(error).reserve()

    def _local(self, error) -> TokenBucket:
        """While Redis cannot be reached, keep to the rate in this process rather than not at all."""
        logger.warning("Rate limit %s: Redis not reachable (%s); limiting in this process only", self.key, error)
        if self._fallback is None:
            self._fallback = TokenBucket(self.rate, self.burst, clock=self._clock)
        return self._fallback


class Buckets:
    """Every bucket of the app, by name: in this process, or in Redis when a URL is given."""

    def __init__(self, redis_url: str | None = None, *, clock: Clock = time.monotonic):
        self.redis_url = redis_url
        self._clock = clock
        self._buckets: dict[tuple[str, float, float | None], Bucket] = {}
        self._client = None
        self._lock = threading.Lock()

    def get(self, name: str, rate: float, burst: float | None = None) -> Bucket | None:
        """The bucket `name` (e.g. "domain:example.org"); None when `rate` is 0 (no limit)."""
        if not rate or rate <= 0:
            return None
        key = (name, rate, burst)
        with self._lock:
            if key not in self._buckets:
                self._buckets[key] = self._new(name, rate, burst)
            return self._buckets[key]

    def _new(self, name: str, rate: float, burst: float | None) -> Bucket:
        if not self.redis_url:
            return TokenBucket(rate, burst, clock=self._clock)
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=5)
        return RedisBucket(self._client, f"crm:mail:rate:{name}", rate, burst, clock=self._clock)


def buckets() -> Buckets:
    """The app's buckets (made anew when the Redis URL in the configuration changes)."""
    url = current_app.config.get("MAIL_RATE_REDIS_URL")
    store = current_app.extensions.get("crm_mail_buckets")
    if store is None or store.redis_url != url:
        store = current_app.extensions["crm_mail_buckets"] = Buckets(url)
    return store


def parse_rates(text: str | None, setting: str = "CRM_MAIL_DOMAIN_RATES") -> dict[str, float]:
    """ "gmail.com=10, web.de=0.5" → {"gmail.com": 10.0, "web.de": 0.5}; raises RuntimeError on a bad entry."""
    rates = {}
    for entry in (text or "").split(","):
        if not entry.strip():
            continue
        domain, _, value = entry.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = -1
        if not domain.strip() or not math.isfinite(rate) or rate < 0:
            raise RuntimeError(f"{setting}: „{entry.strip()}“ ist kein Eintrag der Form domain=Nachrichten pro Sekunde.")
        rates[domain.strip().lower()] = rate
    return rates


def domain_of(address: str | None) -> str:
    return (address or "").rpartition("@")[2].strip().lower()


class Limits:
    """The overall and per-domain limits of one dispatch run (the per-server ones are the pool's)."""

    def __init__(self, store: Buckets, *, overall: float = 0, domains: dict[str, float] | None = None,
                 default_domain: float = 0, sleep: Callable[[float], None] = time.sleep, clock: Clock = time.monotonic):  # fmt: skip
        self.store, self.sleep, self._clock = store, sleep, clock
        self.overall = store.get("overall", overall)
        self.domains = domains or {}
        self.default_domain = default_domain
        #: Per held-back domain: when its next message may go, as far as this run knows.
        self._slots: dict[str, float] = {}

    @property
    def rate(self) -> float | None:
        """The overall messages per second; None: no limit."""
        return self.overall.rate if self.overall is not None else None

    def pace(self) -> None:
        """Wait until the overall rate allows the next message (exactly as long as computed)."""
        if self.overall is not None:
            wait = self.overall.reserve()
            if wait > 0:
                self.sleep(wait)

    def hold(self, address: str | None) -> float:
        """Seconds a message to `address` must wait for its domain's limit; 0.0: it may go now (token taken)."""
        domain = domain_of(address)
        bucket = self.store.get(f"domain:{domain}", self.domains.get(domain, self.default_domain))
        if bucket is None:
            return 0.0
        wait = bucket.try_take()
        if not wait:
            return 0.0
        # Later messages to the same domain queue up behind this one, one token apart, instead of all
        # coming back at the same moment to find the bucket empty again.
        now = self._clock()
        slot = max(self._slots.get(domain, 0.0), now + wait)
        self._slots[domain] = slot + 1 / bucket.rate
        return slot - now


def limits() -> Limits:
    """The configured limits (CRM_MAIL_RATE_PER_SECOND, CRM_MAIL_DOMAIN_RATES, CRM_MAIL_DOMAIN_RATE)."""
    config = current_app.config
    return Limits(
        buckets(), overall=config["MAIL_RATE_PER_SECOND"], domains=parse_rates(config["MAIL_DOMAIN_RATES"]),
        default_domain=config["MAIL_DOMAIN_RATE"],
    )  # fmt: skip
