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
 * Any other line (a miss, a cluster still collecting examples, a merged one, not exact bytes) is
 * handed back untouched to the Python loop, which stays the reference: the C never decides
 * anything the Python code would decide differently, it only skips the interpreter on hits.
 *
 * scan(lines, out, cache, hex_cache, id_cache, checked_type, max_chars) -> (hex_hits, rest)
 *   lines: an iterator of bytes; out: list (results appended); the three caches: dicts
 *   bytes -> _Cluster | _Checked; checked_type: the _Checked class; max_chars: MinerConfig's.
 *   rest: None once `lines` is exhausted, else a 1-tuple with the line to mine in Python (the
 *   iterator is then positioned after it: call scan again to go on). hex_hits: lines served
 *   from the hex cache (the Python loop counts those the same way).
 * id_view(raw) -> bytes: masking.id_free(raw)[0] (for the equivalence tests).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Interned attribute names of _Cluster / _Checked, and the int 1. */
static PyObject *s_hot, *s_count, *s_result, *s_pick, *s_by_digits, *one;

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
 * collapsed token is >= 8 bytes and becomes 3). Returns the view's length, or -1 when the line
 * has no collapsing token (the view would be the line itself). */
static Py_ssize_t
build_view(const unsigned char *r, Py_ssize_t n, unsigned char *buf)
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
        if (end - at < 8 || !collapses(r, n, at, end))
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
        spans++;
    }
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

/* The lookup in `cache` of `key` (made from `view`): 1 counted, 0 not served here, -1 error. */
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
    int rc = count_hot(cluster, out);
    Py_DECREF(cluster);
    return rc;
}

/* One line: 1 counted here, 0 hand it to Python, -1 error. */
static int
handle(PyObject *raw, PyObject *out, PyObject *cache, PyObject *hex_cache, PyObject *id_cache,
       PyTypeObject *checked, Py_ssize_t max_chars, Py_ssize_t *hex_hits)
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
    int rc = serve(cache, key, raw, checked, out, &found);
    if (rc != 0 || found) {
        Py_DECREF(key);
        return rc;
    }
    rc = serve(hex_cache, key, raw, checked, out, &found);
    if (rc != 0 || found) {
        Py_DECREF(key);
        if (rc == 1)
            (*hex_hits)++;
        return rc;
    }

    /* The id-free key, under add_many_utf8's conditions: ASCII, no "0x"/"0X" in the key (a digit
     * then x), no "://", no newline, at most max_chars. */
    Py_DECREF(key);
    if (n > max_chars)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = r[i];
        if (!SPECIAL[c])  /* (most bytes: one table look-up) */
            continue;
        if (c >= 0x80 || c == '\n')
            return 0;
        if ((c == 'x' || c == 'X') && i > 0 && IS_DIGIT(r[i - 1]))
            return 0;
        if (c == ':' && i + 2 < n && r[i + 1] == '/' && r[i + 2] == '/')
            return 0;
    }
    unsigned char small[1024];
    unsigned char *buf = n <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)n);
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    rc = 0;
    Py_ssize_t m = build_view(r, n, buf);
    if (m >= 0) {
        PyObject *view = PyBytes_FromStringAndSize((const char *)buf, m);
        PyObject *id_key = NULL;
        if (view != NULL) {
            id_key = PyBytes_FromStringAndSize(NULL, m);
            if (id_key != NULL)
                digits_to_zero(buf, (unsigned char *)PyBytes_AS_STRING(id_key), m);
        }
        if (view == NULL || id_key == NULL)
            rc = -1;
        else
            rc = serve(id_cache, id_key, view, checked, out, &found);
        Py_XDECREF(view);
        Py_XDECREF(id_key);
    }
    if (buf != small)
        PyMem_Free(buf);
    return rc;
}

static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError,
                        "scan(lines, out, cache, hex_cache, id_cache, checked_type, max_chars)");
        return NULL;
    }
    PyObject *it = args[0], *out = args[1];
    if (!PyIter_Check(it) || !PyList_Check(out) || !PyDict_Check(args[2]) || !PyDict_Check(args[3])
            || !PyDict_Check(args[4]) || !PyType_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "scan: expected an iterator, a list, three dicts and a type");
        return NULL;
    }
    Py_ssize_t max_chars = PyLong_AsSsize_t(args[6]);
    if (max_chars == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t hex_hits = 0;
    PyObject *raw;
    while ((raw = PyIter_Next(it)) != NULL) {
        int rc = handle(raw, out, args[2], args[3], args[4], (PyTypeObject *)args[5], max_chars, &hex_hits);
        if (rc == 1) {
            Py_DECREF(raw);
            continue;
        }
        if (rc < 0) {
            Py_DECREF(raw);
            return NULL;
        }
        return Py_BuildValue("(n(N))", hex_hits, raw); /* "N": the tuple takes our reference */
    }
    if (PyErr_Occurred())
        return NULL;
    return Py_BuildValue("(nO)", hex_hits, Py_None);
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
    Py_ssize_t m = build_view(r, n, buf);
    PyObject *view = m < 0 ? Py_NewRef(raw) : PyBytes_FromStringAndSize((const char *)buf, m);
    PyMem_Free(buf);
    return view;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(lines, out, cache, hex_cache, id_cache, checked_type, max_chars) -> (hex_hits, rest)"},
    {"id_view", id_view, METH_O, "id_view(raw) -> masking.id_free(raw)[0]"},
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
        one = PyLong_FromLong(1);
        if (!s_hot || !s_count || !s_result || !s_pick || !s_by_digits || !one)
            return NULL;
    }
    return PyModule_Create(&module_def);
}
