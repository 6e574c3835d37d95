/* logpipe.patterns._fastpath: the per-line hot loop of TemplateMiner.add_many_utf8, in C.
 *
 * Why: on long application messages (nginx access lines with request and trace ids) the pure
 * Python loop spends ~6-7 us a line on interpreter overhead around two cache keys; this does the
 * same keys and lookups in one C pass per line (see benchmarks/results/patterns.md).
 *
 * What it does, and only that: for each line it computes the miner's fast-cache key (digits
 * turned into '0'), looks it up in the fast cache and then the hex cache, else builds the id-free
 * view exactly like masking.id_free and looks up its key in the id cache. When the lookup ends on
 * a *hot* cluster (live, examples complete), the line is counted (cluster.count += 1) and the
 * cluster's shared result is appended to `out`: the very effect of the Python loop's inline hit.
 * When all of them miss, an ASCII line whose masking.shape needs no regex (no HTTP request, no
 * hex token left to judge) has its shape looked up too, and a hit on a hot pattern without digits
 * gets _add_slow's bookkeeping for such a hit (serve_shape). Any other line (a miss, a cluster
 * still collecting examples, a merged one, not exact bytes) is handed back untouched to Python,
 * which stays the reference: the C never decides anything the Python code would decide
 * differently, it only skips the interpreter where the outcome is a known hot pattern.
 *
 * scan(lines, out, cache, hex_cache, id_cache, checked_type, max_chars) -> (hex_hits, line, slow)
 *   lines: an iterator of bytes; out: list (results appended); the three caches: dicts
 *   bytes -> _Cluster | _Checked; checked_type: the _Checked class; max_chars: MinerConfig's.
 *   line: None once `lines` is exhausted, else the line to mine in Python (the iterator is then
 *   positioned after it: call scan again to go on). slow: None (the Python loop mines the line),
 *   or, for a line both digits-to-zero caches miss, (key, spans, view): the arguments the Python
 *   loop would give _add_slow for it (saves recomputing them). hex_hits: lines served from the
 *   hex cache (the Python loop counts those the same way).
 * id_view(raw) -> bytes: masking.id_free(raw)[0]; shape_key(raw) -> str | None: the shape looked up
 * for a line, None where Python decides (both for the equivalence tests).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Interned attribute names of _Cluster / _Checked, and the int 1. */
static PyObject *s_hot, *s_count, *s_result, *s_pick, *s_by_digits, *s_target, *s_examples, *s_hex_tries,
    *s_hex_hits, *s_cache, *s_hex_cache, *s_id_cache, *s_shape_cache, *one;

/* Byte classes (built once in module init). */
static unsigned char HEXCLASS[256]; /* 0-9 a-f A-F and '-': masking._HEX_CLASS */
static unsigned char ID_LEFT[256];  /* masking._ID_LEFT: may stand before an id token */
static unsigned char ID_RIGHT[256]; /* masking._ID_RIGHT: may stand after one */
static unsigned char SPECIAL[256];  /* bytes the id-free key's conditions look at: >= 0x80 \n x X : */

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_HEXLETTER(c) (((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define IS_BLANK(c) ((c) == ' ' || (c) == '\t')

/* k[0:n] = r[0:n] with every ASCII digit turned into '0' (bytes.translate(_DIGITS_TO_ZERO));
 * `restrict`: the two never overlap, so the compiler may vectorise the loop. */
static void
digits_to_zero(const unsigned char *restrict r, unsigned char *restrict k, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        k[i] = (unsigned char)(IS_DIGIT(r[i]) ? '0' : r[i]);
}

/* Whether the hex run raw[at:end] (maximal, >= 8 bytes) is an id token that shape() collapses:
 * masking.id_free's condition, `not (A or B or C or D)`, term by term. */
static int
collapses(const unsigned char *r, Py_ssize_t n, Py_ssize_t at, Py_ssize_t end)
{
    /* A: _not_an_id_bytes: no digit, or no letter, or letters+ digits+ letters* (no '-'). */
    int digit = 0, letter = 0, dash = 0;
    for (Py_ssize_t i = at; i < end; i++) {
        unsigned char c = r[i];
        if (IS_DIGIT(c)) digit = 1;
        else if (c == '-') dash = 1;
        else letter = 1;
    }
    if (!digit || !letter)
        return 0;
    if (!dash) {
        Py_ssize_t i = at;
        while (i < end && IS_HEXLETTER(r[i])) i++;
        if (i > at) {
            Py_ssize_t j = i;
            while (j < end && IS_DIGIT(r[j])) j++;
            if (j > i) {
                while (j < end && IS_HEXLETTER(r[j])) j++;
                if (j == end)
                    return 0;
            }
        }
    }
    /* B: what stands before it (a fraction's digit before "." or "," does not count). */
    if (at > 0) {
        unsigned char c = r[at - 1];
        if (!ID_LEFT[c])
            return 0;
        if ((c == '.' || c == ',') && at > 1 && IS_DIGIT(r[at - 2]))
            return 0;
    }
    if (end < n) {
        unsigned char c = r[end];
        /* C: what stands after it (":" counts before a space, a tab or the end). */
        if (!ID_RIGHT[c] && !(c == ':' && (end + 1 == n || IS_BLANK(r[end + 1]))))
            return 0;
        /* D: _date_follows_bytes, ",?[ \t]+[0-9]" at end. */
        if (c == ',' || IS_BLANK(c)) {
            Py_ssize_t p = end + (c == ',');
            Py_ssize_t q = p;
            while (q < n && IS_BLANK(r[q])) q++;
            if (q > p && q < n && IS_DIGIT(r[q]))
                return 0;
        }
    }
    return 1;
}

/* Whether r[from:from+8] exists and is all hex-class bytes. */
static int
eight_hex(const unsigned char *r, Py_ssize_t n, Py_ssize_t from)
{
    if (from < 0 || from + 8 > n)
        return 0;
    for (Py_ssize_t i = from; i < from + 8; i++)
        if (!HEXCLASS[r[i]])
            return 0;
    return 1;
}

/* masking.id_free's view of the ASCII line r[0:n], written to buf (room for n bytes: each
 * collapsed token is >= 8 bytes and becomes 3), and its spans to spans_out (if not NULL: room for
 * n / 8 + 1 (start, end) pairs). Returns the view's length, or -1 when the line has no collapsing
 * token (the view would be the line itself). *count (if not NULL): how many spans; *has_run (if not
 * NULL) set to 1 where the line has 8 hex-class bytes in a row (masking.has_hex_run). */
static Py_ssize_t
build_view(const unsigned char *r, Py_ssize_t n, unsigned char *buf, Py_ssize_t *spans_out, Py_ssize_t *count,
           int *has_run)
{
    Py_ssize_t i = 0, last = 0, w = 0;
    int spans = 0;
    while (i < n) {
        if (!HEXCLASS[r[i]]) {
            i++;
            continue;
        }
        Py_ssize_t at = i;
        while (i < n && HEXCLASS[r[i]]) i++;
        Py_ssize_t end = i;
        if (end - at < 8)
            continue;
        if (has_run != NULL)
            *has_run = 1;
        if (!collapses(r, n, at, end))
            continue;
        unsigned char head = 'n', tail = 'n';
        if (at > 0 && IS_BLANK(r[at - 1])) {
            /* marked[:at].rstrip(b" \t").removesuffix(b",").endswith(_EIGHT) */
            Py_ssize_t j = at;
            while (j > 0 && IS_BLANK(r[j - 1])) j--;
            if (j > 0 && r[j - 1] == ',') j--;
            if (eight_hex(r, n, j - 8))
                head = IS_DIGIT(r[at]) ? '0' : 'a';
        }
        if (end < n && (r[end] == '.' || r[end] == ',') && eight_hex(r, n, end + 1))
            tail = IS_DIGIT(r[end - 1]) ? '0' : 'a';
        /* raw[last:at], head, 0xFE, tail (w + (at - last) + 3 <= at + 3 <= n: in bounds) */
        memcpy(buf + w, r + last, (size_t)(at - last));
        w += at - last;
        buf[w++] = head;
        buf[w++] = 0xFE;
        buf[w++] = tail;
        last = end;
        if (spans_out != NULL) { /* room for n / 8 + 1 pairs: each span is >= 8 bytes */
            spans_out[2 * spans] = at;
            spans_out[2 * spans + 1] = end;
        }
        spans++;
    }
    if (count != NULL)
        *count = spans;
    if (!spans)
        return -1;
    memcpy(buf + w, r + last, (size_t)(n - last));
    return w + (n - last);
}

/* The cluster an entry stands for: the entry itself, or for a _Checked entry the cluster its
 * by_digits maps the picked digits of `view` to. New reference; NULL with no error set: none. */
static PyObject *
resolve_entry(PyObject *entry, PyObject *view, PyTypeObject *checked)
{
    if (Py_TYPE(entry) != checked) {
        Py_INCREF(entry);
        return entry;
    }
    PyObject *pick = PyObject_GetAttr(entry, s_pick);
    if (pick == NULL)
        return NULL;
    PyObject *picked = PyObject_CallOneArg(pick, view);
    Py_DECREF(pick);
    if (picked == NULL)
        return NULL;
    PyObject *by_digits = PyObject_GetAttr(entry, s_by_digits);
    if (by_digits == NULL) {
        Py_DECREF(picked);
        return NULL;
    }
    PyObject *cluster = NULL;
    if (PyDict_CheckExact(by_digits)) {
        cluster = PyDict_GetItemWithError(by_digits, picked);
        Py_XINCREF(cluster);
    }
    Py_DECREF(by_digits);
    Py_DECREF(picked);
    return cluster;
}

/* If `cluster` is hot: count the line, append its result. 1 done, 0 not hot, -1 error. */
static int
count_hot(PyObject *cluster, PyObject *out)
{
    PyObject *hot = PyObject_GetAttr(cluster, s_hot);
    if (hot == NULL)
        return -1;
    int is_hot = (hot == Py_True);
    Py_DECREF(hot);
    if (!is_hot)
        return 0;
    PyObject *count = PyObject_GetAttr(cluster, s_count);
    if (count == NULL)
        return -1;
    PyObject *next = PyNumber_Add(count, one);
    Py_DECREF(count);
    if (next == NULL)
        return -1;
    int rc = PyObject_SetAttr(cluster, s_count, next);
    Py_DECREF(next);
    if (rc < 0)
        return -1;
    PyObject *result = PyObject_GetAttr(cluster, s_result);
    if (result == NULL)
        return -1;
    rc = PyList_Append(out, result);
    Py_DECREF(result);
    return rc < 0 ? -1 : 1;
}

/* The lookup in `cache` of `key` (made from `view`): 1 counted, 0 not served here, -1 error.
 * *found: 1 where the key is in `cache`, 2 where its entry also stands for a cluster. */
static int
serve(PyObject *cache, PyObject *key, PyObject *view, PyTypeObject *checked, PyObject *out, int *found)
{
    PyObject *entry = PyDict_GetItemWithError(cache, key);
    if (entry == NULL)
        return PyErr_Occurred() ? -1 : 0;
    *found = 1;
    Py_INCREF(entry);
    PyObject *cluster = resolve_entry(entry, view, checked);
    Py_DECREF(entry);
    if (cluster == NULL)
        return PyErr_Occurred() ? -1 : 0;
    *found = 2;
    int rc = count_hot(cluster, out);
    Py_DECREF(cluster);
    return rc;
}

/* What the Python loop passes to _add_slow, besides the line, for a line both digits-to-zero
 * caches miss: (key, spans, view), spans a list of (start, end), or (key, (), b"") without the
 * id-free key (masking.id_free's spans and view). New reference, NULL on error. */
static PyObject *
slow_args(PyObject *key, const Py_ssize_t *spans, Py_ssize_t count, PyObject *view)
{
    if (count == 0)
        return Py_BuildValue("(O()y#)", key, "", (Py_ssize_t)0);
    PyObject *list = PyList_New(count);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = Py_BuildValue("(nn)", spans[2 * i], spans[2 * i + 1]);
        if (pair == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, pair); /* steals the reference */
    }
    return Py_BuildValue("(ONO)", key, list, view); /* "N": the tuple takes the list */
}

/* What scan reads of the miner, and counts, for one call. */
typedef struct {
    PyObject *out, *miner;                                /* results list; the TemplateMiner */
    PyObject *cache, *hex_cache, *id_cache, *shape_cache; /* its dicts (strong references) */
    PyTypeObject *checked;                                /* the _Checked class */
    Py_ssize_t max_chars, max_examples, cache_size, hex_trial; /* MinerConfig's, miner._HEX_TRIAL */
    Py_ssize_t hex_hits;                                  /* lines served from the hex cache */
} Ctx;

#define IS_ALNUM(c) (IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_WORD(c) (IS_ALNUM(c) || (c) == '_')

/* Whether no HTTP request can start in r[0:n]: no " /" right after a method (GET, POST, ...) that
 * does not follow a word character. Where one may, masking.shape and status_digit_offset look for
 * the request (a regex): such lines are left to Python. */
static int
no_request(const unsigned char *r, Py_ssize_t n)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                                          "CONNECT", "TRACE"};
    for (Py_ssize_t p = 0; p + 1 < n; p++) {
        if (r[p] != ' ' || r[p + 1] != '/')
            continue;
        for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++) {
            Py_ssize_t len = (Py_ssize_t)strlen(methods[k]);
            if (p >= len && memcmp(r + p - len, methods[k], (size_t)len) == 0
                    && (p == len || !IS_WORD(r[p - len - 1])))
                return 0;
        }
    }
    return 1;
}

#define IS_HEXDIGIT(c) (IS_DIGIT(c) || IS_HEXLETTER(c))

/* masking.shape of an ASCII line with no newline and no request (no_request), in three steps as
 * masking._collapse: each "0x<hex>" literal standing alone becomes "0x0" (_shape_hex_sub); each
 * collapsing hex token becomes "0" (`judged`: a line that passed the usable conditions, whose
 * tokens build_view judged: `spans`, `count` of them; for any other line without "://", a run of
 * 8 hex-class bytes left after the first step returns NULL: Python judges it); then each digit run
 * that does not follow a letter or digit becomes one "0" (a token's neighbours never are).
 * New str; NULL with no error set: left to Python. */
static PyObject *
make_shape(const unsigned char *r, Py_ssize_t n, int judged, const Py_ssize_t *spans, Py_ssize_t count)
{
    unsigned char small[1024];
    unsigned char *t = n <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)n + 1);
    if (t == NULL)
        return PyErr_NoMemory();
    /* step 1: 0(?<![A-Za-z0-9]0)[xX][0-9A-Fa-f]+(?![\w.:-]) -> "0x0" (never longer) */
    Py_ssize_t tn = 0;
    int url = 0;
    for (Py_ssize_t i = 0; i < n;) {
        if (r[i] == ':' && i + 2 < n && r[i + 1] == '/' && r[i + 2] == '/')
            url = 1;
        if (r[i] == '0' && (i == 0 || !IS_ALNUM(r[i - 1])) && i + 2 < n && (r[i + 1] == 'x' || r[i + 1] == 'X')
                && IS_HEXDIGIT(r[i + 2])) {
            Py_ssize_t j = i + 2;
            while (j < n && IS_HEXDIGIT(r[j]))
                j++;
            /* masking._hex_literal: not after a "::" in the run of hex digits and colons before it
             * (the IPv6 rule may take its "0"); such a literal is copied as it is */
            Py_ssize_t k = i;
            int after_double_colon = 0;
            while (k > 0 && (r[k - 1] == ':' || IS_HEXDIGIT(r[k - 1]))) {
                if (r[k - 1] == ':' && k > 1 && r[k - 2] == ':') {
                    after_double_colon = 1;
                    break;
                }
                k--;
            }
            if (!after_double_colon && (j == n || !(IS_WORD(r[j]) || r[j] == '.' || r[j] == ':' || r[j] == '-'))) {
                t[tn++] = '0';
                t[tn++] = 'x';
                t[tn++] = '0';
                i = j;
                continue;
            }
        }
        t[tn++] = r[i++];
    }
    PyObject *shaped = NULL;
    if (judged && tn != n)
        goto done; /* (cannot happen: a judged line has no "0x" literal) */
    if (!judged) { /* step 2 not judged here: no run of 8 may be left (none is judged with "://") */
        Py_ssize_t run = 0;
        for (Py_ssize_t i = 0; !url && i < tn; i++) {
            run = HEXCLASS[t[i]] ? run + 1 : 0;
            if (run >= 8)
                goto done;
        }
    }
    shaped = PyUnicode_New(tn, 127);
    if (shaped == NULL)
        goto done;
    Py_UCS1 *w = PyUnicode_1BYTE_DATA(shaped);
    Py_ssize_t m = 0, next = 0;
    for (Py_ssize_t i = 0; i < tn; i++) {
        if (next < count && i == spans[2 * next]) {
            w[m++] = '0';
            i = spans[2 * next + 1] - 1;
            next++;
            continue;
        }
        w[m++] = t[i];
        if (IS_DIGIT(t[i]) && (i == 0 || !IS_ALNUM(t[i - 1]))) {
            w[m - 1] = '0';
            while (i + 1 < tn && IS_DIGIT(t[i + 1]))
                i++;
        }
    }
    if (m < tn) { /* a shorter str: copy (a compact str cannot shrink in place) */
        PyObject *shorter = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, w, m);
        Py_SETREF(shaped, shorter);
    }
done:
    if (t != small)
        PyMem_Free(t);
    return shaped;
}

/* A line every lookup missed (the id-free one too, where it has collapsing hex tokens: `spans`,
 * `count` of them, and their `id_key`), ASCII, whose masking.shape is `_shape_sub("0", line)` with
 * each such token first turned into "0" (no request, no "0x", no "://": the usable conditions):
 * look its shape up in the shape cache and, on a hit on a hot pattern whose masked text has no
 * digit, do what _add_slow does then: count it, store the shape again, remember the id-free key
 * in the id cache, and the line's key in the fast cache, or in the hex cache under the same trial
 * rule (has_run: the line has 8 hex-class bytes in a row). Every check comes before the first
 * change; anything else (a shape miss, a _Checked entry to build, a cache to clear) is left to
 * Python. 1 done, 0 not, -1 error. */
static int
serve_shape(Ctx *ctx, const unsigned char *r, Py_ssize_t n, PyObject *key, int has_run,
            const Py_ssize_t *spans, Py_ssize_t count, PyObject *id_key)
{
    if (PyDict_GET_SIZE(ctx->cache) >= ctx->cache_size || !no_request(r, n)
            || (id_key != NULL && PyDict_GET_SIZE(ctx->id_cache) >= ctx->cache_size))
        return 0;
    PyObject *shaped = make_shape(r, n, spans != NULL, spans, count);
    if (shaped == NULL)
        return PyErr_Occurred() ? -1 : 0;
    int rc = 0;
    PyObject *cluster = NULL, *examples = NULL, *hot = NULL, *tries_obj = NULL;
    PyObject *hit = PyDict_GetItemWithError(ctx->shape_cache, shaped);
    if (hit == NULL || !PyTuple_CheckExact(hit) || PyTuple_GET_SIZE(hit) != 2
            || PyTuple_GET_ITEM(hit, 1) != Py_True)
        goto done; /* (an error, if any, is still set) */
    /* cluster.live(): follow the merge targets */
    cluster = Py_NewRef(PyTuple_GET_ITEM(hit, 0));
    for (int hops = 0;; hops++) {
        PyObject *target = PyObject_GetAttr(cluster, s_target);
        if (target == NULL)
            goto done;
        if (target == Py_None) {
            Py_DECREF(target);
            break;
        }
        Py_SETREF(cluster, target);
        if (hops > 100000)
            goto done; /* a cycle would hang Python as well: leave it there */
    }
    hot = PyObject_GetAttr(cluster, s_hot);
    examples = hot == Py_True ? PyObject_GetAttr(cluster, s_examples) : NULL;
    if (examples == NULL || !PyList_Check(examples) || PyList_GET_SIZE(examples) < ctx->max_examples)
        goto done; /* still collecting examples (or an error): Python */
    PyObject *remember_in = ctx->cache;
    Py_ssize_t tries = 0;
    if (has_run) {
        tries_obj = PyObject_GetAttr(ctx->miner, s_hex_tries);
        PyObject *hits_obj = tries_obj != NULL ? PyObject_GetAttr(ctx->miner, s_hex_hits) : NULL;
        if (hits_obj == NULL)
            goto done;
        tries = PyLong_AsSsize_t(tries_obj);
        Py_ssize_t hits = PyLong_AsSsize_t(hits_obj);
        Py_DECREF(hits_obj);
        if ((tries == -1 || hits == -1) && PyErr_Occurred())
            goto done;
        if (tries >= ctx->hex_trial && hits * 4 < tries)
            remember_in = NULL; /* the hex cache is not paying for itself: not remembered */
        else if (PyDict_GET_SIZE(ctx->hex_cache) >= ctx->cache_size)
            goto done; /* it is cleared first: Python */
        else
            remember_in = ctx->hex_cache;
    }
    /* all checked: the changes _add_slow makes */
    rc = count_hot(cluster, ctx->out);
    if (rc != 1)
        goto done;
    PyObject *entry = PyTuple_Pack(2, cluster, Py_True);
    if (entry == NULL || PyDict_SetItem(ctx->shape_cache, shaped, entry) < 0)
        rc = -1;
    Py_XDECREF(entry);
    if (rc == 1 && id_key != NULL && PyDict_SetItem(ctx->id_cache, id_key, cluster) < 0)
        rc = -1;
    if (rc == 1 && remember_in == ctx->hex_cache) {
        PyObject *next = PyLong_FromSsize_t(tries + 1);
        if (next == NULL || PyObject_SetAttr(ctx->miner, s_hex_tries, next) < 0)
            rc = -1;
        Py_XDECREF(next);
    }
    if (rc == 1 && remember_in != NULL && PyDict_SetItem(remember_in, key, cluster) < 0)
        rc = -1;
done:
    if (rc == 0 && PyErr_Occurred())
        rc = -1;
    Py_XDECREF(tries_obj);
    Py_XDECREF(hot);
    Py_XDECREF(examples);
    Py_XDECREF(cluster);
    Py_DECREF(shaped);
    return rc;
}

/* One line: 1 counted here, 0 hand it to Python (*rest: _add_slow's arguments, see slow_args, or
 * NULL: the Python loop decides), -1 error. */
static int
handle(Ctx *ctx, PyObject *raw, PyObject **rest)
{
    if (!PyBytes_CheckExact(raw))
        return 0;
    const unsigned char *r = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);

    /* key = raw.translate(_DIGITS_TO_ZERO) */
    PyObject *key = PyBytes_FromStringAndSize(NULL, n);
    if (key == NULL)
        return -1;
    digits_to_zero(r, (unsigned char *)PyBytes_AS_STRING(key), n);

    int found = 0;
    int rc = serve(ctx->cache, key, raw, ctx->checked, ctx->out, &found);
    if (rc != 0 || found) {
        Py_DECREF(key);
        return rc;
    }
    rc = serve(ctx->hex_cache, key, raw, ctx->checked, ctx->out, &found);
    if (rc != 0 || found) {
        Py_DECREF(key);
        if (rc == 1)
            ctx->hex_hits++;
        return rc;
    }

    /* Both missed: the id-free key, under add_many_utf8's conditions (ASCII, no "0x"/"0X" in the
     * key: a digit then x, no "://", no newline, at most max_chars); else _add_slow without it. */
    int plain = n <= ctx->max_chars, usable = plain; /* plain: ASCII, no newline, <= max_chars */
    for (Py_ssize_t i = 0; plain && i < n; i++) {
        unsigned char c = r[i];
        if (!SPECIAL[c]) /* (most bytes: one table look-up) */
            continue;
        if (c >= 0x80 || c == '\n')
            plain = usable = 0;
        else if ((c == 'x' || c == 'X') && i > 0 && IS_DIGIT(r[i - 1]))
            usable = 0;
        else if (c == ':' && i + 2 < n && r[i + 1] == '/' && r[i + 2] == '/')
            usable = 0;
    }
    if (!usable) {
        rc = 0;
        if (plain) { /* no id-free key, but the shape cache may know it */
            int has_run = 0;
            for (Py_ssize_t i = 0, run = 0; i < n && !has_run; i++) {
                run = HEXCLASS[r[i]] ? run + 1 : 0;
                has_run = run >= 8;
            }
            rc = serve_shape(ctx, r, n, key, has_run, NULL, 0, NULL);
        }
        if (rc == 0) {
            *rest = slow_args(key, NULL, 0, NULL);
            if (*rest == NULL)
                rc = -1;
        }
        Py_DECREF(key);
        return rc;
    }
    /* scratch: the view (n bytes at most) and the spans (n / 8 + 1 pairs at most) */
    Py_ssize_t small[512];
    size_t words = (size_t)n / sizeof(Py_ssize_t) + 1 + 2 * ((size_t)n / 8 + 1);
    Py_ssize_t *scratch = words <= sizeof(small) / sizeof(small[0]) ? small
                          : PyMem_Malloc(words * sizeof(Py_ssize_t));
    if (scratch == NULL) {
        Py_DECREF(key);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t *spans = scratch;
    unsigned char *buf = (unsigned char *)(scratch + 2 * ((size_t)n / 8 + 1));
    rc = 0;
    Py_ssize_t count = 0;
    PyObject *view = NULL, *id_key = NULL;
    int has_run = 0;
    Py_ssize_t m = build_view(r, n, buf, spans, &count, &has_run);
    if (m >= 0) {
        view = PyBytes_FromStringAndSize((const char *)buf, m);
        if (view != NULL)
            id_key = PyBytes_FromStringAndSize(NULL, m);
        if (id_key != NULL) {
            digits_to_zero(buf, (unsigned char *)PyBytes_AS_STRING(id_key), m);
            found = 0;
            rc = serve(ctx->id_cache, id_key, view, ctx->checked, ctx->out, &found);
            if (rc == 0 && found != 2) /* _add_slow's id-cache lookup gives None too */
                rc = serve_shape(ctx, r, n, key, has_run, spans, count, id_key); /* judged */
        }
        else
            rc = -1;
    }
    else
        rc = serve_shape(ctx, r, n, key, has_run, spans, 0, NULL); /* judged: no span */
    if (rc == 0) { /* not served: what the Python loop then gives _add_slow */
        *rest = slow_args(key, spans, count, view);
        if (*rest == NULL)
            rc = -1;
    }
    Py_XDECREF(view);
    Py_XDECREF(id_key);
    Py_DECREF(key);
    if (scratch != small)
        PyMem_Free(scratch);
    return rc;
}

static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *usage =
        "scan(lines, out, miner, checked_type, max_chars, max_examples, cache_size, hex_trial)";
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    Ctx ctx = {.out = args[1], .miner = args[2], .checked = (PyTypeObject *)args[3]};
    PyObject *it = args[0];
    if (!PyIter_Check(it) || !PyList_Check(ctx.out) || !PyType_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    Py_ssize_t *limits[] = {&ctx.max_chars, &ctx.max_examples, &ctx.cache_size, &ctx.hex_trial};
    for (int i = 0; i < 4; i++) {
        *limits[i] = PyLong_AsSsize_t(args[4 + i]);
        if (*limits[i] == -1 && PyErr_Occurred())
            return NULL;
    }
    PyObject *result = NULL;
    ctx.cache = PyObject_GetAttr(ctx.miner, s_cache);
    ctx.hex_cache = ctx.cache ? PyObject_GetAttr(ctx.miner, s_hex_cache) : NULL;
    ctx.id_cache = ctx.hex_cache ? PyObject_GetAttr(ctx.miner, s_id_cache) : NULL;
    ctx.shape_cache = ctx.id_cache ? PyObject_GetAttr(ctx.miner, s_shape_cache) : NULL;
    if (ctx.shape_cache == NULL)
        goto done;
    if (!PyDict_Check(ctx.cache) || !PyDict_Check(ctx.hex_cache) || !PyDict_Check(ctx.id_cache)
            || !PyDict_Check(ctx.shape_cache)) {
        PyErr_SetString(PyExc_TypeError, "scan: the miner's caches are not dicts");
        goto done;
    }
    PyObject *raw;
    while ((raw = PyIter_Next(it)) != NULL) {
        PyObject *rest = NULL;
        int rc = handle(&ctx, raw, &rest);
        if (rc == 1) {
            Py_DECREF(raw);
            continue;
        }
        if (rc < 0) {
            Py_DECREF(raw);
            goto done;
        }
        /* "N": the tuple takes our references */
        result = Py_BuildValue("(nNN)", ctx.hex_hits, raw, rest != NULL ? rest : Py_NewRef(Py_None));
        goto done;
    }
    if (!PyErr_Occurred())
        result = Py_BuildValue("(nOO)", ctx.hex_hits, Py_None, Py_None);
done:
    Py_XDECREF(ctx.cache);
    Py_XDECREF(ctx.hex_cache);
    Py_XDECREF(ctx.id_cache);
    Py_XDECREF(ctx.shape_cache);
    return result;
}

static PyObject *
id_view(PyObject *module, PyObject *raw)
{
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "id_view: expected bytes");
        return NULL;
    }
    const unsigned char *r = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (r[i] >= 0x80) {
            PyErr_SetString(PyExc_ValueError, "id_view: ASCII only (as the miner uses it)");
            return NULL;
        }
    }
    unsigned char *buf = PyMem_Malloc((size_t)n + 1);
    if (buf == NULL)
        return PyErr_NoMemory();
    Py_ssize_t m = build_view(r, n, buf, NULL, NULL, NULL);
    PyObject *view = m < 0 ? Py_NewRef(raw) : PyBytes_FromStringAndSize((const char *)buf, m);
    PyMem_Free(buf);
    return view;
}

/* The shape serve_shape would look up for an ASCII line, or None where it leaves the line to
 * Python (for the equivalence tests: it must be masking.shape's). */
static PyObject *
shape_key(PyObject *module, PyObject *raw)
{
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "shape_key: expected bytes");
        return NULL;
    }
    const unsigned char *r = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    int usable = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = r[i];
        if (c >= 0x80 || c == '\n')
            Py_RETURN_NONE;
        if (((c == 'x' || c == 'X') && i > 0 && IS_DIGIT(r[i - 1]))
                || (c == ':' && i + 2 < n && r[i + 1] == '/' && r[i + 2] == '/'))
            usable = 0;
    }
    if (!no_request(r, n))
        Py_RETURN_NONE;
    Py_ssize_t *spans = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * ((size_t)n / 8 + 1));
    unsigned char *buf = PyMem_Malloc((size_t)n + 1);
    PyObject *shaped = NULL;
    if (spans == NULL || buf == NULL)
        PyErr_NoMemory();
    else {
        Py_ssize_t count = 0;
        if (usable)
            build_view(r, n, buf, spans, &count, NULL);
        shaped = make_shape(r, n, usable, spans, count);
        if (shaped == NULL && !PyErr_Occurred())
            shaped = Py_NewRef(Py_None);
    }
    PyMem_Free(spans);
    PyMem_Free(buf);
    return shaped;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(lines, out, miner, checked_type, max_chars, max_examples, cache_size, hex_trial)"
     " -> (hex_hits, line, slow)"},
    {"id_view", id_view, METH_O, "id_view(raw) -> masking.id_free(raw)[0]"},
    {"shape_key", shape_key, METH_O, "shape_key(raw) -> masking.shape(raw.decode()), or None: left to Python"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_fastpath", "The compiled hot loop of TemplateMiner.add_many_utf8.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    const char *hex = "0123456789abcdefABCDEF-";
    const char *left = " \t\n\r\f\v=,;()[]{}\"'<>|./_";
    const char *right = " \t\n\r\f\v=,;()[]{}\"'<>|./";
    for (const char *p = hex; *p; p++) HEXCLASS[(unsigned char)*p] = 1;
    for (const char *p = left; *p; p++) ID_LEFT[(unsigned char)*p] = 1;
    for (const char *p = right; *p; p++) ID_RIGHT[(unsigned char)*p] = 1;
    for (int c = 0x80; c < 256; c++) SPECIAL[c] = 1;
    SPECIAL['\n'] = SPECIAL['x'] = SPECIAL['X'] = SPECIAL[':'] = 1;
    if (s_hot == NULL) {
        s_hot = PyUnicode_InternFromString("hot");
        s_count = PyUnicode_InternFromString("count");
        s_result = PyUnicode_InternFromString("result");
        s_pick = PyUnicode_InternFromString("pick");
        s_by_digits = PyUnicode_InternFromString("by_digits");
        s_target = PyUnicode_InternFromString("target");
        s_examples = PyUnicode_InternFromString("examples");
        s_hex_tries = PyUnicode_InternFromString("_hex_tries");
        s_hex_hits = PyUnicode_InternFromString("_hex_hits");
        s_cache = PyUnicode_InternFromString("_cache");
        s_hex_cache = PyUnicode_InternFromString("_hex_cache");
        s_id_cache = PyUnicode_InternFromString("_id_cache");
        s_shape_cache = PyUnicode_InternFromString("_shape_cache");
        one = PyLong_FromLong(1);
        if (!s_hot || !s_count || !s_result || !s_pick || !s_by_digits || !s_target || !s_examples || !s_hex_tries
                || !s_hex_hits || !s_cache || !s_hex_cache || !s_id_cache || !s_shape_cache || !one)
            return NULL;
    }
    return PyModule_Create(&module_def);
}
