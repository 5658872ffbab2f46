/*
 * _fastpath.c - the server's packet loop for the common case, in C.
 *
 * What it does, per worker: poll() the worker's sockets and its control pipe,
 * drain each ready socket with recvmmsg() (kernel RX timestamps), and for every
 * plain request - exactly 48 octets, mode 3, version 1..4, from an address the
 * access list allows, not link-local - apply the same decisions as
 * orchestrator.ntp.server.NtpServerCore.handle: rate limiting (token buckets,
 * leak, KoD RATE), client log, counters, then the reply built in place from a
 * per-worker template, transmit timestamp read last, and sendmmsg().
 *
 * Everything else (MACs, extension fields, mode 1, bad versions, denied
 * clients, short packets, link-local sources) is "punted": returned to Python,
 * where NtpServerCore decides on it.  The rate limiter's and the client log's
 * state live here (RateTable, ClientTable) and the Python core uses the same
 * tables through thin wrappers (orchestrator/serve/fastpath.py), so a client's
 * bucket and log record are one whichever path its packets take.
 *
 * No per-packet allocation: the batch buffers, the reply slots and the tables
 * are allocated once.  Tables are bounded LRU hash maps (open addressing,
 * linear probing with backward-shift deletion, seeded hash).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#define NIL UINT32_MAX
#define BATCH 64
#define RECV_BUFSIZE 1024
#define CTRL_BUFSIZE 256
#define MAX_SOCKS 64
#define NTP_UNIX_NS (2208988800LL * 1000000000LL)
#define PHI 15e-6
#define TX_SAMPLE_EVERY 8
#define TX_SAMPLE_RARELY 256
#define TX_WINDOW 31
#define TX_MAX_NS 1000000
#define PER_MSG_MAX_NS 50000

/* ------------------------------------------------------------------ helpers */

static uint64_t rng_s[2];

static inline uint64_t rnd64(void) { /* xorshift128+ */
	uint64_t s1 = rng_s[0];
	const uint64_t s0 = rng_s[1];
	rng_s[0] = s0;
	s1 ^= s1 << 23;
	rng_s[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return rng_s[1] + s0;
}

static void rnd_seed(void) {
	if (getrandom(rng_s, sizeof rng_s, 0) != (ssize_t)sizeof rng_s || !(rng_s[0] | rng_s[1])) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		rng_s[0] = (uint64_t)t.tv_nsec * 0x9E3779B97F4A7C15ULL | 1;
		rng_s[1] = (uint64_t)t.tv_sec ^ 0xD1B54A32D192ED03ULL;
	}
}

static inline int64_t realtime_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static inline int64_t mono_ms(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static inline uint64_t ntp_from_unix_ns(int64_t ns) { /* floor, as NtpServerCore._reply */
	int64_t n = ns + NTP_UNIX_NS;
	int64_t sec = n / 1000000000LL, rem = n % 1000000000LL;
	if (rem < 0) {
		rem += 1000000000LL;
		sec -= 1;
	}
	return ((uint64_t)sec << 32) | (((uint64_t)rem << 32) / 1000000000ULL);
}

static inline uint64_t get_be64(const unsigned char *p) {
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) v = v << 8 | p[i];
	return v;
}

static inline void put_be64(unsigned char *p, uint64_t v) {
	for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

static inline void put_be32(unsigned char *p, uint32_t v) {
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = (unsigned char)v;
}

/* An address key: 16 octets, IPv4 as ::ffff:a.b.c.d. */
typedef struct { uint64_t a, b; } addr_key;

static int key_from_str(PyObject *s, addr_key *k) {
	const char *txt = PyUnicode_AsUTF8(s);
	if (!txt) return -1;
	char buf[INET6_ADDRSTRLEN + 1];
	size_t n = strcspn(txt, "%");
	if (n >= sizeof buf) goto bad;
	memcpy(buf, txt, n);
	buf[n] = 0;
	unsigned char raw[16] = {0};
	if (inet_pton(AF_INET, buf, raw + 12) == 1) {
		raw[10] = raw[11] = 0xff;
	} else if (inet_pton(AF_INET6, buf, raw) != 1) {
		goto bad;
	}
	memcpy(&k->a, raw, 8);
	memcpy(&k->b, raw + 8, 8);
	return 0;
bad:
	PyErr_Format(PyExc_ValueError, "not an IP address: %R", s);
	return -1;
}

static int key_is_v4(const addr_key *k) {
	const unsigned char *r = (const unsigned char *)&k->b;
	return k->a == 0 && r[0] == 0 && r[1] == 0 && r[2] == 0xff && r[3] == 0xff;
}

static PyObject *key_to_str(const addr_key *k) {
	unsigned char raw[16];
	char buf[INET6_ADDRSTRLEN];
	memcpy(raw, &k->a, 8);
	memcpy(raw + 8, &k->b, 8);
	if (key_is_v4(k)) inet_ntop(AF_INET, raw + 12, buf, sizeof buf);
	else inet_ntop(AF_INET6, raw, buf, sizeof buf);
	return PyUnicode_FromString(buf);
}

/* ------------------------------------------------------------------ bounded LRU map */

typedef struct {
	uint32_t cap, n, mask, head, tail; /* head: most recently used */
	uint32_t *slots;                   /* hash slot -> entry index, NIL when empty */
	addr_key *keys;
	uint32_t *hash, *prev, *next;
	uint64_t seed0, seed1;
	uint64_t evicted;
} lru_t;

static int lru_init(lru_t *t, uint32_t cap) {
	uint32_t size = 4;
	while (size < 2 * cap) size <<= 1;
	memset(t, 0, sizeof *t);
	t->cap = cap;
	t->mask = size - 1;
	t->head = t->tail = NIL;
	t->slots = PyMem_Malloc(sizeof(uint32_t) * size);
	t->keys = PyMem_Malloc(sizeof(addr_key) * cap);
	t->hash = PyMem_Malloc(sizeof(uint32_t) * cap);
	t->prev = PyMem_Malloc(sizeof(uint32_t) * cap);
	t->next = PyMem_Malloc(sizeof(uint32_t) * cap);
	if (!t->slots || !t->keys || !t->hash || !t->prev || !t->next) return -1;
	memset(t->slots, 0xff, sizeof(uint32_t) * size);
	uint64_t s[2];
	if (getrandom(s, sizeof s, 0) != (ssize_t)sizeof s) { s[0] = rnd64(); s[1] = rnd64(); }
	t->seed0 = s[0];
	t->seed1 = s[1];
	return 0;
}

static void lru_free(lru_t *t) {
	PyMem_Free(t->slots); PyMem_Free(t->keys); PyMem_Free(t->hash);
	PyMem_Free(t->prev); PyMem_Free(t->next);
	t->slots = NULL; t->keys = NULL; t->hash = t->prev = t->next = NULL;
}

static inline uint32_t lru_hash(const lru_t *t, const addr_key *k) {
	uint64_t x = (k->a ^ t->seed0) * 0x9E3779B97F4A7C15ULL;
	x ^= x >> 29;
	x += k->b ^ t->seed1;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 32;
	return (uint32_t)x;
}

static inline uint32_t lru_find(const lru_t *t, const addr_key *k, uint32_t h) {
	uint32_t p = h & t->mask, i;
	while ((i = t->slots[p]) != NIL) {
		if (t->hash[i] == h && t->keys[i].a == k->a && t->keys[i].b == k->b) return i;
		p = (p + 1) & t->mask;
	}
	return NIL;
}

static inline void lru_unlink(lru_t *t, uint32_t i) {
	uint32_t p = t->prev[i], n = t->next[i];
	if (p != NIL) t->next[p] = n; else t->head = n;
	if (n != NIL) t->prev[n] = p; else t->tail = p;
}

static inline void lru_push_head(lru_t *t, uint32_t i) {
	t->prev[i] = NIL;
	t->next[i] = t->head;
	if (t->head != NIL) t->prev[t->head] = i;
	t->head = i;
	if (t->tail == NIL) t->tail = i;
}

static inline void lru_touch(lru_t *t, uint32_t i) {
	if (t->head != i) {
		lru_unlink(t, i);
		lru_push_head(t, i);
	}
}

static void lru_slot_remove(lru_t *t, uint32_t i) {
	uint32_t p = t->hash[i] & t->mask;
	while (t->slots[p] != i) p = (p + 1) & t->mask;
	uint32_t hole = p, j = p;
	for (;;) { /* backward-shift deletion */
		j = (j + 1) & t->mask;
		uint32_t e = t->slots[j];
		if (e == NIL) break;
		uint32_t home = t->hash[e] & t->mask;
		/* move e into the hole unless its home lies cyclically in (hole, j] */
		int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (!in_range) {
			t->slots[hole] = e;
			hole = j;
		}
	}
	t->slots[hole] = NIL;
}

/* A new entry for k (absent); *victim is the evicted index or NIL. */
static uint32_t lru_insert(lru_t *t, const addr_key *k, uint32_t h, uint32_t *victim) {
	uint32_t i;
	*victim = NIL;
	if (t->n < t->cap) {
		i = t->n++;
	} else {
		i = t->tail;
		lru_unlink(t, i);
		lru_slot_remove(t, i);
		t->evicted++;
		*victim = i;
	}
	t->keys[i] = *k;
	t->hash[i] = h;
	uint32_t p = h & t->mask;
	while (t->slots[p] != NIL) p = (p + 1) & t->mask;
	t->slots[p] = i;
	lru_push_head(t, i);
	return i;
}

/* ------------------------------------------------------------------ RateTable */

enum { RATE_PASS = 0, RATE_LEAK = 1, RATE_KOD = 2, RATE_DROP = 3 };

typedef struct { double tokens, last, last_kod; } bucket_t;

typedef struct {
	PyObject_HEAD
	lru_t t;
	bucket_t *b;
	double period, burst;
	uint32_t leak_mask;
	int kod;
} RateTable;

static int rate_init(RateTable *self, PyObject *args, PyObject *kw) {
	static char *names[] = {"max_clients", "interval", "burst", "leak", "kod", NULL};
	unsigned int cap;
	int interval, burst, leak, kod;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "Iiiip", names, &cap, &interval, &burst, &leak, &kod))
		return -1;
	if (cap < 1 || cap > (1u << 24)) {
		PyErr_SetString(PyExc_ValueError, "max_clients out of range");
		return -1;
	}
	if (self->b) return 0;
	if (lru_init(&self->t, cap) < 0 || !(self->b = PyMem_Malloc(sizeof(bucket_t) * cap))) {
		PyErr_NoMemory();
		return -1;
	}
	self->period = ldexp(1.0, interval);
	self->burst = (double)burst;
	self->leak_mask = (1u << leak) - 1;
	self->kod = kod;
	return 0;
}

static void rate_dealloc(RateTable *self) {
	lru_free(&self->t);
	PyMem_Free(self->b);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* RateLimiter.check, the same arithmetic */
static inline int rate_check(RateTable *r, const addr_key *k, double now, uint32_t bits) {
	lru_t *t = &r->t;
	uint32_t h = lru_hash(t, k), i = lru_find(t, k, h), victim;
	if (i == NIL) {
		i = lru_insert(t, k, h, &victim);
		r->b[i].tokens = r->burst - 1.0;
		r->b[i].last = now;
		r->b[i].last_kod = -1e18;
		return RATE_PASS;
	}
	lru_touch(t, i);
	bucket_t *b = &r->b[i];
	double elapsed = now - b->last;
	if (elapsed > 0) {
		double v = b->tokens + elapsed / r->period;
		b->tokens = r->burst < v ? r->burst : v;
		b->last = now;
	}
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return RATE_PASS;
	}
	if (r->leak_mask && (bits & r->leak_mask) == 0) return RATE_LEAK;
	if (r->kod && now - b->last_kod >= r->period) {
		b->last_kod = now;
		return RATE_KOD;
	}
	return RATE_DROP;
}

static PyObject *rate_check_py(RateTable *self, PyObject *args) {
	PyObject *addr, *bits;
	double now;
	addr_key k;
	if (!PyArg_ParseTuple(args, "UdO!", &addr, &now, &PyLong_Type, &bits)) return NULL;
	if (key_from_str(addr, &k) < 0) return NULL;
	unsigned long long v = PyLong_AsUnsignedLongLongMask(bits);
	if (v == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
	return PyLong_FromLong(rate_check(self, &k, now, (uint32_t)v));
}

static PyObject *rate_kod_allowed(RateTable *self, PyObject *args) {
	PyObject *addr;
	double now;
	addr_key k;
	if (!PyArg_ParseTuple(args, "Ud", &addr, &now)) return NULL;
	if (key_from_str(addr, &k) < 0) return NULL;
	lru_t *t = &self->t;
	uint32_t h = lru_hash(t, &k), i = lru_find(t, &k, h), victim;
	if (i == NIL) {
		i = lru_insert(t, &k, h, &victim);
		self->b[i].tokens = self->burst;
		self->b[i].last = now;
		self->b[i].last_kod = now;
		Py_RETURN_TRUE;
	}
	lru_touch(t, i);
	if (now - self->b[i].last_kod >= self->period) {
		self->b[i].last_kod = now;
		Py_RETURN_TRUE;
	}
	Py_RETURN_FALSE;
}

static Py_ssize_t rate_len(RateTable *self) { return self->t.n; }

static PyObject *rate_evicted(RateTable *self, void *c) { return PyLong_FromUnsignedLongLong(self->t.evicted); }

static PyMethodDef rate_methods[] = {
	{"check", (PyCFunction)rate_check_py, METH_VARARGS, "check(address, now, random_bits) -> 0 pass, 1 leak, 2 kod, 3 drop"},
	{"kod_allowed", (PyCFunction)rate_kod_allowed, METH_VARARGS, "kod_allowed(address, now) -> bool"},
	{NULL}};
static PyGetSetDef rate_getset[] = {{"evicted", (getter)rate_evicted, NULL, NULL, NULL}, {NULL}};
static PySequenceMethods rate_seq = {.sq_length = (lenfunc)rate_len};

static PyTypeObject RateTableType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "orchestrator.serve._fastpath.RateTable",
	.tp_basicsize = sizeof(RateTable),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Rate-limit buckets per address (bounded LRU), as ntp.ratelimit.RateLimiter.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)rate_init,
	.tp_dealloc = (destructor)rate_dealloc,
	.tp_methods = rate_methods,
	.tp_getset = rate_getset,
	.tp_as_sequence = &rate_seq,
};

/* ------------------------------------------------------------------ ClientTable */

enum { OUT_RESPONDED = 0, OUT_KOD = 1, OUT_DROPPED = 2 };

typedef struct {
	double first, last;
	uint64_t requests, responses, drops, kods;
	int64_t key_id; /* -1: none */
} counts_t;

typedef struct {
	PyObject_HEAD
	lru_t t;          /* totals: LRU, evicts the least recently seen */
	counts_t *r;
	lru_t d;          /* deltas since the last take: insertion order, never evicts */
	counts_t *dv;
	uint64_t unsaved; /* requests of new addresses that found the delta table full */
} ClientTable;

static int ct_init(ClientTable *self, PyObject *args, PyObject *kw) {
	static char *names[] = {"max_clients", NULL};
	unsigned int cap;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "I", names, &cap)) return -1;
	if (cap < 1 || cap > (1u << 24)) {
		PyErr_SetString(PyExc_ValueError, "max_clients must be >= 1");
		return -1;
	}
	if (self->r) return 0;
	if (lru_init(&self->t, cap) < 0 || lru_init(&self->d, cap) < 0 ||
	    !(self->r = PyMem_Malloc(sizeof(counts_t) * cap)) || !(self->dv = PyMem_Malloc(sizeof(counts_t) * cap))) {
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

static void ct_dealloc(ClientTable *self) {
	lru_free(&self->t);
	lru_free(&self->d);
	PyMem_Free(self->r);
	PyMem_Free(self->dv);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static inline void count(counts_t *c, double now, int outcome, int64_t key_id) {
	c->last = now;
	c->requests++;
	if (outcome == OUT_RESPONDED) c->responses++;
	else if (outcome == OUT_KOD) c->kods++;
	else c->drops++;
	if (key_id >= 0) c->key_id = key_id;
}

static inline void counts_new(counts_t *c, double now) {
	memset(c, 0, sizeof *c);
	c->first = c->last = now;
	c->key_id = -1;
}

/* ClientLog.record, the same bookkeeping: the totals (LRU) and the delta of the address */
static inline void ct_record(ClientTable *self, const addr_key *k, double now, int outcome, int64_t key_id) {
	lru_t *t = &self->t, *d = &self->d;
	uint32_t h = lru_hash(t, k), i = lru_find(t, k, h), victim;
	if (i == NIL) {
		i = lru_insert(t, k, h, &victim);
		counts_new(&self->r[i], now);
	} else {
		lru_touch(t, i);
	}
	uint32_t hd = lru_hash(d, k), j = lru_find(d, k, hd);
	if (j == NIL) {
		if (d->n >= d->cap) {
			self->unsaved++;
			count(&self->r[i], now, outcome, key_id);
			return;
		}
		j = lru_insert(d, k, hd, &victim); /* never evicts: d->n < d->cap */
		counts_new(&self->dv[j], now);
	}
	count(&self->r[i], now, outcome, key_id);
	count(&self->dv[j], now, outcome, key_id);
}

static PyObject *counts_tuple(const addr_key *k, const counts_t *c) {
	PyObject *addr = key_to_str(k);
	if (!addr) return NULL;
	PyObject *kid = c->key_id >= 0 ? PyLong_FromLongLong(c->key_id) : Py_NewRef(Py_None);
	return Py_BuildValue("(NddKKKKN)", addr, c->first, c->last, (unsigned long long)c->requests,
	                     (unsigned long long)c->responses, (unsigned long long)c->drops,
	                     (unsigned long long)c->kods, kid);
}

static PyObject *ct_record_py(ClientTable *self, PyObject *args) {
	PyObject *addr, *kid = Py_None;
	double now;
	int outcome;
	addr_key k;
	if (!PyArg_ParseTuple(args, "Udi|O", &addr, &now, &outcome, &kid)) return NULL;
	if (key_from_str(addr, &k) < 0) return NULL;
	int64_t key_id = -1;
	if (kid != Py_None) {
		key_id = PyLong_AsLongLong(kid);
		if (key_id == -1 && PyErr_Occurred()) return NULL;
		if (key_id < 0) {
			PyErr_SetString(PyExc_ValueError, "key id must be >= 0");
			return NULL;
		}
	}
	ct_record(self, &k, now, outcome, key_id);
	Py_RETURN_NONE;
}

static PyObject *ct_entries(ClientTable *self, PyObject *unused) {
	PyObject *out = PyList_New(0);
	if (!out) return NULL;
	for (uint32_t i = self->t.tail; i != NIL; i = self->t.prev[i]) { /* oldest first */
		PyObject *e = counts_tuple(&self->t.keys[i], &self->r[i]);
		if (!e || PyList_Append(out, e) < 0) {
			Py_XDECREF(e);
			Py_DECREF(out);
			return NULL;
		}
		Py_DECREF(e);
	}
	return out;
}

static PyObject *ct_get(ClientTable *self, PyObject *addr) {
	addr_key k;
	if (!PyUnicode_Check(addr)) {
		PyErr_SetString(PyExc_TypeError, "address must be a str");
		return NULL;
	}
	if (key_from_str(addr, &k) < 0) {
		PyErr_Clear();
		Py_RETURN_NONE;
	}
	uint32_t i = lru_find(&self->t, &k, lru_hash(&self->t, &k));
	if (i == NIL) Py_RETURN_NONE;
	return counts_tuple(&k, &self->r[i]);
}

static PyObject *ct_take_deltas(ClientTable *self, PyObject *unused) {
	lru_t *d = &self->d;
	PyObject *out = PyList_New(d->n);
	if (!out) return NULL;
	Py_ssize_t s = 0;
	for (uint32_t j = d->tail; j != NIL; j = d->prev[j]) { /* in the order first seen */
		PyObject *e = counts_tuple(&d->keys[j], &self->dv[j]);
		if (!e) {
			Py_DECREF(out);
			return NULL;
		}
		PyList_SET_ITEM(out, s++, e);
	}
	memset(d->slots, 0xff, sizeof(uint32_t) * (d->mask + 1));
	d->n = 0;
	d->head = d->tail = NIL;
	return out;
}

static Py_ssize_t ct_len(ClientTable *self) { return self->t.n; }
static PyObject *ct_evicted(ClientTable *self, void *c) { return PyLong_FromUnsignedLongLong(self->t.evicted); }
static PyObject *ct_unsaved(ClientTable *self, void *c) { return PyLong_FromUnsignedLongLong(self->unsaved); }
static PyObject *ct_cap(ClientTable *self, void *c) { return PyLong_FromUnsignedLong(self->t.cap); }

static PyMethodDef ct_methods[] = {
	{"record", (PyCFunction)ct_record_py, METH_VARARGS, "record(address, now, outcome, key_id=None)"},
	{"entries", (PyCFunction)ct_entries, METH_NOARGS, "records as tuples, least recently seen first"},
	{"get", (PyCFunction)ct_get, METH_O, "the record of one address as a tuple, or None"},
	{"take_deltas", (PyCFunction)ct_take_deltas, METH_NOARGS, "deltas since the last call, as tuples"},
	{NULL}};
static PyGetSetDef ct_getset[] = {
	{"evicted", (getter)ct_evicted, NULL, NULL, NULL},
	{"unsaved", (getter)ct_unsaved, NULL, NULL, NULL},
	{"max_clients", (getter)ct_cap, NULL, NULL, NULL},
	{NULL}};
static PySequenceMethods ct_seq = {.sq_length = (lenfunc)ct_len};

static PyTypeObject ClientTableType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "orchestrator.serve._fastpath.ClientTable",
	.tp_basicsize = sizeof(ClientTable),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The client log (bounded LRU plus deltas), as ntp.clientlog.ClientLog.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)ct_init,
	.tp_dealloc = (destructor)ct_dealloc,
	.tp_methods = ct_methods,
	.tp_getset = ct_getset,
	.tp_as_sequence = &ct_seq,
};

/* ------------------------------------------------------------------ FastPath */

typedef struct { unsigned char net[16]; int plen; int v4; } rule_t;

enum { C_RECEIVED, C_ANSWERED, C_KOD_RATE, C_DROP_RL, C_LEAKED, C_SEND_ERR, C_PUNTED, C_N };
static const char *counter_names[C_N] = {"received", "answered", "kod-rate", "dropped-rate-limited",
                                         "leaked", "send-errors", "punted"};

typedef struct {
	PyObject_HEAD
	int nsocks;
	int fds[MAX_SOCKS], wildcard[MAX_SOCKS], txts[MAX_SOCKS], family[MAX_SOCKS];
	int control_fd;
	ClientTable *clients;
	RateTable *rate; /* NULL: no rate limiting */
	int kod_poll;    /* the rate limit's interval, the floor of a KoD RATE's poll */
	rule_t *allow, *deny;
	int nallow, ndeny;
	int tx_compensation;
	/* reply template and state */
	unsigned char tmpl[48];
	int leap_bits, precision;
	uint64_t keep, fuzz;
	double disp0;
	int64_t ref_ns;
	/* TX delay estimate */
	int64_t tx_samples[TX_WINDOW];
	int n_tx, tx_pos, since_sample;
	int64_t tx_delay_ns, comp_ns;
	uint64_t counters[C_N];
	/* batch buffers */
	struct mmsghdr rmsg[BATCH], smsg[BATCH];
	struct iovec riov[BATCH], siov[BATCH];
	struct sockaddr_storage raddr[BATCH];
	unsigned char rbuf[BATCH][RECV_BUFSIZE];
	unsigned char rctl[BATCH][CTRL_BUFSIZE];
	unsigned char sbuf[BATCH][48];
	unsigned char sctl[BATCH][CTRL_BUFSIZE];
	int needs_tx[BATCH];
	int64_t per_msg_ns; /* how long sendmmsg takes per message (average) */
} FastPath;

static int parse_rules(PyObject *seq, rule_t **out, int *n) {
	PyObject *fast = PySequence_Fast(seq, "rules must be a sequence");
	if (!fast) return -1;
	Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
	*out = PyMem_Malloc(sizeof(rule_t) * (len ? len : 1));
	*n = 0;
	if (!*out) {
		Py_DECREF(fast);
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < len; i++) {
		const char *net;
		Py_ssize_t netlen;
		int plen, v4;
		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "y#ip", &net, &netlen, &plen, &v4)) {
			Py_DECREF(fast);
			return -1;
		}
		if (netlen != (v4 ? 4 : 16) || plen < 0 || plen > (v4 ? 32 : 128)) {
			Py_DECREF(fast);
			PyErr_SetString(PyExc_ValueError, "bad access rule");
			return -1;
		}
		rule_t *r = &(*out)[(*n)++];
		memset(r->net, 0, 16);
		memcpy(r->net, net, netlen);
		r->plen = plen;
		r->v4 = v4;
	}
	Py_DECREF(fast);
	return 0;
}

static int fp_init(FastPath *self, PyObject *args, PyObject *kw) {
	static char *names[] = {"sockets", "control_fd", "clients", "rate", "allow", "deny",
	                        "tx_compensation", "kod_poll", NULL};
	PyObject *socks, *clients, *rate, *allow, *deny;
	int control_fd, comp, kod_poll;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OiO!OOOpi", names, &socks, &control_fd, &ClientTableType,
	                                 &clients, &rate, &allow, &deny, &comp, &kod_poll))
		return -1;
	if (rate != Py_None && !PyObject_TypeCheck(rate, &RateTableType)) {
		PyErr_SetString(PyExc_TypeError, "rate must be a RateTable or None");
		return -1;
	}
	if (self->clients) {
		PyErr_SetString(PyExc_RuntimeError, "FastPath is initialised once");
		return -1;
	}
	PyObject *fast = PySequence_Fast(socks, "sockets must be a sequence");
	if (!fast) return -1;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	if (n < 0 || n > MAX_SOCKS) {
		Py_DECREF(fast);
		PyErr_SetString(PyExc_ValueError, "at most 64 sockets");
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) { /* (fd, family, wildcard, tx_timestamps) */
		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "iipp", &self->fds[i], &self->family[i],
		                      &self->wildcard[i], &self->txts[i])) {
			Py_DECREF(fast);
			return -1;
		}
	}
	Py_DECREF(fast);
	self->nsocks = (int)n;
	self->control_fd = control_fd;
	if (parse_rules(allow, &self->allow, &self->nallow) < 0) return -1;
	if (parse_rules(deny, &self->deny, &self->ndeny) < 0) return -1;
	self->clients = (ClientTable *)Py_NewRef(clients);
	self->rate = rate == Py_None ? NULL : (RateTable *)Py_NewRef(rate);
	self->tx_compensation = comp;
	self->kod_poll = kod_poll;
	self->since_sample = TX_SAMPLE_EVERY;
	for (int i = 0; i < BATCH; i++) {
		self->riov[i].iov_base = self->rbuf[i];
		self->riov[i].iov_len = RECV_BUFSIZE;
		self->siov[i].iov_base = self->sbuf[i];
		self->siov[i].iov_len = 48;
	}
	return 0;
}

static void fp_dealloc(FastPath *self) {
	Py_XDECREF(self->clients);
	Py_XDECREF(self->rate);
	PyMem_Free(self->allow);
	PyMem_Free(self->deny);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *fp_set_state(FastPath *self, PyObject *args) {
	int leap, stratum, precision;
	unsigned int root_delay;
	const char *ref_id;
	Py_ssize_t ref_id_len;
	unsigned long long ref_ts;
	double disp0;
	long long ref_ns;
	if (!PyArg_ParseTuple(args, "iiiIy#KdL", &leap, &stratum, &precision, &root_delay, &ref_id, &ref_id_len,
	                      &ref_ts, &disp0, &ref_ns))
		return NULL;
	if (ref_id_len != 4) {
		PyErr_SetString(PyExc_ValueError, "ref_id must be 4 octets");
		return NULL;
	}
	unsigned char *t = self->tmpl;
	memset(t, 0, 48);
	t[1] = (unsigned char)stratum;
	t[3] = (unsigned char)(signed char)precision;
	put_be32(t + 4, root_delay);
	memcpy(t + 12, ref_id, 4);
	put_be64(t + 16, ref_ts);
	self->leap_bits = leap << 6;
	self->precision = precision;
	self->disp0 = disp0;
	self->ref_ns = ref_ns;
	int nbits = 32 + precision;
	if (nbits < 0) nbits = 0;
	if (nbits > 32) nbits = 32;
	self->fuzz = (1ULL << nbits) - 1;
	self->keep = ~self->fuzz;
	Py_RETURN_NONE;
}

static inline int rule_match(const rule_t *r, const unsigned char *a) {
	int full = r->plen / 8, rest = r->plen % 8;
	if (memcmp(r->net, a, full)) return 0;
	if (rest) {
		unsigned char m = (unsigned char)(0xff << (8 - rest));
		if ((r->net[full] & m) != (a[full] & m)) return 0;
	}
	return 1;
}

/* AccessList.decide: the most specific match wins, deny on a tie, nothing matching: deny */
static inline int access_ok(FastPath *self, const unsigned char *a, int v4) {
	int best_allow = -1, best_deny = -1;
	for (int i = 0; i < self->nallow; i++)
		if (self->allow[i].v4 == v4 && self->allow[i].plen > best_allow && rule_match(&self->allow[i], a))
			best_allow = self->allow[i].plen;
	for (int i = 0; i < self->ndeny; i++)
		if (self->deny[i].v4 == v4 && self->deny[i].plen > best_deny && rule_match(&self->deny[i], a))
			best_deny = self->deny[i].plen;
	return best_allow > best_deny;
}

static void tx_delay_add(FastPath *self, int64_t d) {
	if (d < 0 || d > TX_MAX_NS) return;
	self->tx_samples[self->tx_pos] = d;
	self->tx_pos = (self->tx_pos + 1) % TX_WINDOW;
	if (self->n_tx < TX_WINDOW) self->n_tx++;
	int64_t s[TX_WINDOW];
	int n = self->n_tx;
	memcpy(s, self->tx_samples, sizeof(int64_t) * n);
	for (int i = 1; i < n; i++) { /* insertion sort: 31 values, one reply in 8 */
		int64_t v = s[i];
		int j = i - 1;
		while (j >= 0 && s[j] > v) { s[j + 1] = s[j]; j--; }
		s[j + 1] = v;
	}
	self->tx_delay_ns = s[n / 2];
	if (self->tx_compensation) self->comp_ns = self->tx_delay_ns;
}

static int64_t read_tx_timestamp(int fd) {
	unsigned char ctl[CTRL_BUFSIZE];
	int64_t found = -1;
	for (;;) {
		struct msghdr m = {0};
		m.msg_control = ctl;
		m.msg_controllen = sizeof ctl;
		if (recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return found;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING &&
			    c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
				struct timespec ts;
				memcpy(&ts, CMSG_DATA(c), sizeof ts);
				if (ts.tv_sec || ts.tv_nsec) found = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
			}
		}
	}
}

/* The reply cmsg that makes a wildcard socket answer from the request's destination. */
static size_t reply_pktinfo(struct msghdr *req, unsigned char *out) {
	for (struct cmsghdr *c = CMSG_FIRSTHDR(req); c; c = CMSG_NXTHDR(req, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo in, rep = {0};
			memcpy(&in, CMSG_DATA(c), sizeof in);
			rep.ipi_spec_dst = in.ipi_addr;
			struct cmsghdr *o = (struct cmsghdr *)out;
			o->cmsg_level = IPPROTO_IP;
			o->cmsg_type = IP_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof rep);
			memcpy(CMSG_DATA(o), &rep, sizeof rep);
			return CMSG_SPACE(sizeof rep);
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct cmsghdr *o = (struct cmsghdr *)out;
			o->cmsg_level = IPPROTO_IPV6;
			o->cmsg_type = IPV6_PKTINFO;
			o->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
			memcpy(CMSG_DATA(o), CMSG_DATA(c), sizeof(struct in6_pktinfo));
			return CMSG_SPACE(sizeof(struct in6_pktinfo));
		}
	}
	return 0;
}

static int64_t rx_time(struct msghdr *m) {
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == SOL_SOCKET && (c->cmsg_type == SO_TIMESTAMPING || c->cmsg_type == SO_TIMESTAMPNS) &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
			struct timespec ts; /* SCM_TIMESTAMPING: the software timestamp first */
			memcpy(&ts, CMSG_DATA(c), sizeof ts);
			if (ts.tv_sec || ts.tv_nsec) return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
		}
	}
	return realtime_ns();
}

static PyObject *punt_tuple(int sock, struct msghdr *m, ssize_t len, int64_t rx_ns) {
	char host[INET6_ADDRSTRLEN];
	PyObject *addr, *cmsgs = Py_NewRef(Py_None);
	struct sockaddr_storage *sa = m->msg_name;
	if (sa->ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		addr = Py_BuildValue("(si)", host, ntohs(s4->sin_port));
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		addr = Py_BuildValue("(siII)", host, ntohs(s6->sin6_port), ntohl(s6->sin6_flowinfo), s6->sin6_scope_id);
	}
	unsigned char ctl[CTRL_BUFSIZE];
	size_t clen = reply_pktinfo(m, ctl);
	if (clen) {
		struct cmsghdr *c = (struct cmsghdr *)ctl;
		Py_DECREF(cmsgs);
		cmsgs = Py_BuildValue("[(iiy#)]", c->cmsg_level, c->cmsg_type, CMSG_DATA(c),
		                      (Py_ssize_t)(c->cmsg_len - CMSG_LEN(0)));
	}
	if (!addr || !cmsgs) {
		Py_XDECREF(addr);
		Py_XDECREF(cmsgs);
		return NULL;
	}
	return Py_BuildValue("(iy#NLN)", sock, m->msg_iov->iov_base, (Py_ssize_t)len, addr, (long long)rx_ns, cmsgs);
}

/* Fill in the transmit timestamps and send the batch.  One clock read, as late as
 * possible; the j-th reply of a batch leaves about j per-message send times after the
 * first (the loopback or driver work of each message happens inside sendmmsg), so its
 * T3 is that much later: per_msg_ns is learned from how long each sendmmsg takes.
 * One batch in TX_SAMPLE_EVERY (later TX_SAMPLE_RARELY) asks the kernel for the TX
 * timestamp of its first reply:
 * the read-to-wire delay (tx_delay_ns), added to T3 only with tx_compensation. */
static void send_batch(FastPath *self, int s, int n) {
	int fd = self->fds[s], sent = 0;
	/* after the first TX_WINDOW samples, sample rarely: a sampled reply takes a little
	 * longer to the wire (the kernel clones it for the error queue) */
	int every = self->n_tx < TX_WINDOW ? TX_SAMPLE_EVERY : TX_SAMPLE_RARELY;
	int sample = self->txts[s] && self->needs_tx[0] && ++self->since_sample >= every;
	if (sample) {
		struct msghdr *m = &self->smsg[0].msg_hdr;
		struct cmsghdr *c = (struct cmsghdr *)((unsigned char *)m->msg_control + m->msg_controllen);
		uint32_t flag = SOF_TIMESTAMPING_TX_SOFTWARE;
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SO_TIMESTAMPING;
		c->cmsg_len = CMSG_LEN(sizeof flag);
		memcpy(CMSG_DATA(c), &flag, sizeof flag);
		m->msg_controllen += CMSG_SPACE(sizeof flag);
		self->since_sample = 0;
	}
	int64_t t0 = realtime_ns();
	for (int j = 0; j < n; j++) {
		if (!self->needs_tx[j]) continue;
		unsigned char *p = self->sbuf[j];
		uint64_t rx = get_be64(p + 32);
		uint64_t r = rnd64();
		int64_t t3 = t0 + self->comp_ns + j * self->per_msg_ns;
		uint64_t tx = (ntp_from_unix_ns(t3) & self->keep) | ((r >> 32) & self->fuzz);
		if (tx - rx >= (1ULL << 63) || tx == rx) tx = rx + 1; /* never before receive */
		put_be64(p + 40, tx);
	}
	while (sent < n) {
		int r = sendmmsg(fd, self->smsg + sent, n - sent, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR) continue;
			self->counters[C_SEND_ERR]++;
			sent++; /* the first message failed: skip it, try the rest */
			continue;
		}
		sent += r;
	}
	if (n > 1) { /* an average over 8 batches, bounded */
		int64_t per = (realtime_ns() - t0) / n;
		if (per >= 0 && per < PER_MSG_MAX_NS) self->per_msg_ns += (per - self->per_msg_ns) / 8;
	}
	if (sample) {
		int64_t tx = read_tx_timestamp(fd);
		if (tx >= 0) tx_delay_add(self, tx - t0);
	}
}

/* Receive, decide and answer one batch on socket s; punted packets go to `punts`.
 * Returns the number of datagrams received, 0 when the socket is empty, -1 on a Python error. */
static int serve_batch(FastPath *self, int s, PyObject *punts) {
	int fd = self->fds[s];
	for (int i = 0; i < BATCH; i++) {
		struct msghdr *m = &self->rmsg[i].msg_hdr;
		m->msg_name = &self->raddr[i];
		m->msg_namelen = sizeof self->raddr[i];
		m->msg_iov = &self->riov[i];
		m->msg_iovlen = 1;
		m->msg_control = self->rctl[i];
		m->msg_controllen = CTRL_BUFSIZE;
		m->msg_flags = 0;
	}
	int got = recvmmsg(fd, self->rmsg, BATCH, MSG_DONTWAIT, NULL);
	if (got <= 0) return 0;
	int nout = 0;
	for (int i = 0; i < got; i++) {
		struct msghdr *m = &self->rmsg[i].msg_hdr;
		ssize_t len = self->rmsg[i].msg_len;
		const unsigned char *p = self->rbuf[i];
		int64_t rx_ns = rx_time(m);
		unsigned char a[16];
		int v4 = 0, plain = len == 48 && (p[0] & 7) == 3 && ((p[0] >> 3) & 7) >= 1 && ((p[0] >> 3) & 7) <= 4;
		struct sockaddr_storage *sa = &self->raddr[i];
		if (sa->ss_family == AF_INET) {
			memset(a, 0, 10);
			a[10] = a[11] = 0xff;
			memcpy(a + 12, &((struct sockaddr_in *)sa)->sin_addr, 4);
			v4 = 1;
		} else if (sa->ss_family == AF_INET6) {
			memcpy(a, &((struct sockaddr_in6 *)sa)->sin6_addr, 16);
			if ((a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a)) plain = 0;
		} else {
			continue;
		}
		if (plain && !access_ok(self, v4 ? a + 12 : a, v4)) plain = 0;
		if (!plain) { /* everything unusual: NtpServerCore decides */
			self->counters[C_PUNTED]++;
			PyObject *t = punt_tuple(s, m, len, rx_ns);
			if (!t || PyList_Append(punts, t) < 0) {
				Py_XDECREF(t);
				return -1;
			}
			Py_DECREF(t);
			continue;
		}
		addr_key k;
		memcpy(&k.a, a, 8);
		memcpy(&k.b, a + 8, 8);
		self->counters[C_RECEIVED]++;
		double now = rx_ns / 1e9;
		unsigned char *out = self->sbuf[nout];
		struct msghdr *sm = &self->smsg[nout].msg_hdr;
		int kod = 0;
		if (self->rate) {
			int d = rate_check(self->rate, &k, now, (uint32_t)rnd64());
			if (d == RATE_DROP) {
				self->counters[C_DROP_RL]++;
				ct_record(self->clients, &k, now, OUT_DROPPED, -1);
				continue;
			}
			if (d == RATE_KOD) {
				self->counters[C_KOD_RATE]++;
				kod = 1;
			} else if (d == RATE_LEAK) {
				self->counters[C_LEAKED]++;
			}
		}
		if (kod) { /* NtpServerCore._kod with KISS_RATE */
			memset(out, 0, 48);
			out[0] = (unsigned char)((3 << 6) | (p[0] & 0x38) | 4);
			signed char poll = (signed char)p[2];
			out[2] = (unsigned char)(poll > self->kod_poll ? poll : (signed char)self->kod_poll);
			out[3] = (unsigned char)(signed char)self->precision;
			memcpy(out + 12, "RATE", 4);
			memcpy(out + 24, p + 40, 8);
			memcpy(out + 32, p + 40, 8);
			memcpy(out + 40, p + 40, 8);
			ct_record(self->clients, &k, now, OUT_KOD, -1);
			self->needs_tx[nout] = 0;
		} else { /* NtpServerCore._reply, the transmit timestamp filled in by send_batch */
			self->counters[C_ANSWERED]++;
			ct_record(self->clients, &k, now, OUT_RESPONDED, -1);
			memcpy(out, self->tmpl, 48);
			out[0] = (unsigned char)(self->leap_bits | (p[0] & 0x38) | 4);
			out[2] = p[2];
			uint64_t r = rnd64();
			uint64_t rx = (ntp_from_unix_ns(rx_ns) & self->keep) | (r & self->fuzz);
			if (rx == get_be64(p + 40)) rx ^= 1;
			double disp = self->disp0;
			if (self->ref_ns) disp += PHI * (double)(rx_ns > self->ref_ns ? rx_ns - self->ref_ns : 0) / 1e9;
			double dv = disp * 65536.0;
			uint64_t rd = dv >= 4294967295.0 ? 0xffffffffULL : (uint64_t)dv + 1;
			if (rd > 0xffffffffULL) rd = 0xffffffffULL;
			put_be32(out + 8, (uint32_t)rd);
			memcpy(out + 24, p + 40, 8);
			put_be64(out + 32, rx);
			self->needs_tx[nout] = 1;
		}
		sm->msg_name = sa; /* raddr[i] stays untouched until the next batch */
		sm->msg_namelen = m->msg_namelen;
		sm->msg_iov = &self->siov[nout];
		sm->msg_iovlen = 1;
		sm->msg_flags = 0;
		size_t clen = self->wildcard[s] ? reply_pktinfo(m, self->sctl[nout]) : 0;
		sm->msg_control = self->sctl[nout]; /* with room for a TX-timestamp request */
		sm->msg_controllen = clen;
		nout++;
	}
	if (nout) send_batch(self, s, nout);
	return got;
}

static PyObject *fp_run(FastPath *self, PyObject *args) {
	int timeout_ms;
	if (!PyArg_ParseTuple(args, "i", &timeout_ms)) return NULL;
	if (!self->clients) {
		PyErr_SetString(PyExc_RuntimeError, "FastPath not initialised");
		return NULL;
	}
	struct pollfd pfd[MAX_SOCKS + 1];
	int n = self->nsocks;
	for (int i = 0; i < n; i++) {
		pfd[i].fd = self->fds[i];
		pfd[i].events = POLLIN;
	}
	pfd[n].fd = self->control_fd;
	pfd[n].events = POLLIN;
	PyObject *punts = PyList_New(0);
	if (!punts) return NULL;
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left < 0) left = 0;
		int r;
		Py_BEGIN_ALLOW_THREADS
		r = poll(pfd, n + 1, (int)left);
		Py_END_ALLOW_THREADS
		if (r < 0) {
			if (errno != EINTR) {
				Py_DECREF(punts);
				return PyErr_SetFromErrno(PyExc_OSError);
			}
			if (PyErr_CheckSignals() < 0) {
				Py_DECREF(punts);
				return NULL;
			}
			continue;
		}
		if (r == 0) return punts; /* the flush interval is up */
		for (int i = 0; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLERR))) continue;
			for (int round = 0; round < 16; round++) { /* then look at the others again */
				int got = serve_batch(self, i, punts);
				if (got < 0) {
					Py_DECREF(punts);
					return NULL;
				}
				if (got < BATCH) break;
			}
		}
		if (pfd[n].revents || PyList_GET_SIZE(punts) || mono_ms() >= deadline) return punts;
	}
}

static PyObject *fp_counters(FastPath *self, PyObject *unused) {
	PyObject *d = PyDict_New();
	if (!d) return NULL;
	for (int i = 0; i < C_N; i++) {
		PyObject *v = PyLong_FromUnsignedLongLong(self->counters[i]);
		if (!v || PyDict_SetItemString(d, counter_names[i], v) < 0) {
			Py_XDECREF(v);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(v);
	}
	return d;
}

static PyObject *fp_tx_delay(FastPath *self, void *c) { return PyLong_FromLongLong(self->tx_delay_ns); }
static PyObject *fp_comp(FastPath *self, void *c) { return PyLong_FromLongLong(self->comp_ns); }
static PyObject *fp_per_msg(FastPath *self, void *c) { return PyLong_FromLongLong(self->per_msg_ns); }

static PyMethodDef fp_methods[] = {
	{"set_state", (PyCFunction)fp_set_state, METH_VARARGS,
	 "set_state(leap, stratum, precision, root_delay, ref_id, ref_ts, root_dispersion_s, ref_time_ns)"},
	{"run", (PyCFunction)fp_run, METH_VARARGS,
	 "run(timeout_ms) -> punted [(socket index, data, address, rx_ns, reply cmsgs or None)]; returns on a "
	 "punt, a readable control fd or the timeout"},
	{"counters", (PyCFunction)fp_counters, METH_NOARGS, "counters of the packets decided here"},
	{NULL}};
static PyGetSetDef fp_getset[] = {
	{"tx_delay_ns", (getter)fp_tx_delay, NULL, "median read-to-wire delay of replies", NULL},
	{"comp_ns", (getter)fp_comp, NULL, "what is added to transmit timestamps", NULL},
	{"per_msg_ns", (getter)fp_per_msg, NULL, "sendmmsg time per message (T3 of later replies)", NULL},
	{NULL}};

static PyTypeObject FastPathType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "orchestrator.serve._fastpath.FastPath",
	.tp_basicsize = sizeof(FastPath),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "One worker's packet loop for plain mode-3 requests (see the module source).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)fp_init,
	.tp_dealloc = (destructor)fp_dealloc,
	.tp_methods = fp_methods,
	.tp_getset = fp_getset,
};

static PyObject *mod_reseed(PyObject *m, PyObject *unused) {
	rnd_seed(); /* a forked worker must not share its parent's sequence */
	Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
	{"reseed", mod_reseed, METH_NOARGS, "reseed the random generator (after fork)"}, {NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_fastpath", NULL, -1, mod_methods};

PyMODINIT_FUNC PyInit__fastpath(void) {
	rnd_seed();
	if (PyType_Ready(&RateTableType) < 0 || PyType_Ready(&ClientTableType) < 0 ||
	    PyType_Ready(&FastPathType) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&moddef);
	if (!m) return NULL;
	if (PyModule_AddObjectRef(m, "RateTable", (PyObject *)&RateTableType) < 0 ||
	    PyModule_AddObjectRef(m, "ClientTable", (PyObject *)&ClientTableType) < 0 ||
	    PyModule_AddObjectRef(m, "FastPath", (PyObject *)&FastPathType) < 0 ||
	    PyModule_AddIntConstant(m, "BATCH", BATCH) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
