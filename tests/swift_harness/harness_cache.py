"""An in-process stand-in for memcached in the harness Swift proxies (test harness only).

Swift's proxy needs ``env['swift.cache']``: without it tempauth cannot store tokens, and an
unknown or expired token gets HTTP 500 instead of 401. A shared memcached would also mix the
account and token caches of parallel clusters (every cluster has ``AUTH_t0``), so each proxy
gets its own dictionary. Values go through JSON like ``swift.common.memcached.MemcacheRing``
(a tuple comes back as a list), and entries expire like memcached's: ``time`` is a delta in
seconds, or an absolute Unix time above 30 days.
"""

import json
import threading
import time as _time

EXPTIME_MAXDELTA = 30 * 24 * 60 * 60


class DictCache(object):
    """The subset of MemcacheRing's API that the proxy and its middlewares call."""

    def __init__(self):
        self._data = {}
        self._lock = threading.Lock()

    @staticmethod
    def _deadline(ttl):
        ttl = int(ttl or 0)
        if ttl <= 0:
            return None
        if ttl > EXPTIME_MAXDELTA:
            return float(ttl)
        return _time.time() + ttl

    def _live(self, key):
        entry = self._data.get(key)
        if entry is None:
            return None
        deadline, raw = entry
        if deadline is not None and _time.time() >= deadline:
            del self._data[key]
            return None
        return raw

    def get(self, key, raise_on_error=False):
        with self._lock:
            raw = self._live(key)
        if raw is None:
            return None
        serialized, value = raw
        return json.loads(value) if serialized else value

    def set(self, key, value, serialize=True, time=0, min_compress_len=0,
            raise_on_error=False):
        if serialize:
            if isinstance(value, bytes):
                value = value.decode("utf8")
            stored = (True, json.dumps(value))
        elif isinstance(value, bytes):
            stored = (False, value)
        else:
            stored = (False, str(value).encode("utf-8"))
        with self._lock:
            self._data[key] = (self._deadline(time), stored)

    def incr(self, key, delta=1, time=0):
        with self._lock:
            raw = self._live(key)
            if raw is None:
                current = 0
                deadline = self._deadline(time)
            else:
                current = int(raw[1])
                deadline = self._data[key][0]
            new = max(0, current + int(delta))
            self._data[key] = (deadline, (False, str(new).encode("ascii")))
            return new

    def decr(self, key, delta=1, time=0):
        return self.incr(key, -int(delta), time)

    def delete(self, key, server_key=None):
        with self._lock:
            self._data.pop(key, None)

    def set_multi(self, mapping, server_key, serialize=True, time=0,
                  min_compress_len=0):
        for key, value in mapping.items():
            self.set(key, value, serialize=serialize, time=time)

    def get_multi(self, keys, server_key):
        return [self.get(key) for key in keys]


class CacheMiddleware(object):
    def __init__(self, app, cache):
        self.app = app
        self.cache = cache

    def __call__(self, env, start_response):
        env["swift.cache"] = self.cache
        return self.app(env, start_response)


def filter_factory(global_conf, **local_conf):
    cache = DictCache()

    def cache_filter(app):
        return CacheMiddleware(app, cache)

    return cache_filter
