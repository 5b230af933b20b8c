/* policy_regex.c -- an IssuancePolicy's `allowed` regexes: their cost once glibc expands them,
 * and compiling them anchored. */
#include "decide/policy_priv.h"

#include "base/mem.h"
#include "base/utf8.h"

#include <stdlib.h>

size_t policy_regex_bracket_end(const char *p, size_t i)
{
    size_t j = i + 1;
    if (p[j] == '^')
        j++;
    if (p[j] == ']')
        j++;
    while (p[j] != '\0' && p[j] != ']') {
        if (p[j] == '[' && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
            char end = p[j + 1];
            j += 2;
            while (p[j] != '\0' && !(p[j] == end && p[j + 1] == ']'))
                j++;
            if (p[j] != '\0')
                j++;
        }
        if (p[j] != '\0')
            j++;
    }
    return p[j] != '\0' ? j : j - 1;
}

/* A bound "{n}", "{n,}" or "{n,m}" at p[*i]: true with *mult (how many copies glibc makes,
 * saturating at cap) and *i at its '}'; false, both untouched, when it is a literal '{'. */
static bool policy_regex_braces(const char *p, size_t *i, long long cap, long long *mult)
{
    long long lo = 0, hi;
    size_t j = *i + 1;
    bool digits = false;
    for (; p[j] >= '0' && p[j] <= '9'; j++, digits = true)
        lo = lo < cap ? lo * 10 + (p[j] - '0') : cap;
    hi = lo;
    if (p[j] == ',') {
        j++;
        hi = -1;
        for (; p[j] >= '0' && p[j] <= '9'; j++, digits = true)
            hi = (hi < 0 ? 0 : hi < cap ? hi * 10 : cap) + (p[j] - '0');
    }
    if (!digits || p[j] != '}')
        return false;
    long long m = hi < 0 ? lo + 1 : (hi > lo ? hi : lo);
    *mult = m < 1 ? 1 : m;
    *i = j;
    return true;
}

/* Rough size of a POSIX ERE once glibc has expanded its repeats: "{n,m}" copies the preceding
 * atom or group m times and "+" once more, so nesting multiplies. Saturates past the limit.
 * Sets *unsupported to a reason for what is rejected outright: back-references (not POSIX
 * ERE, and the anchoring group would renumber them) and stacked repeats such as "a**" or
 * "a{2}+" (undefined in POSIX, and glibc's compile time grows exponentially with them). */
static long long policy_regex_cost(const char *p, const char **unsupported)
{
    enum { DEPTH = 64 };
    const long long cap = (long long)POLICY_MAX_REGEX_COST * 4;
    long long acc[DEPTH] = {0};
    int depth = 0;
    long long last = 0; /* cost of the atom a following repeat applies to */
    bool after_repeat = false;
    for (size_t i = 0; p[i] != '\0'; i++) {
        char c = p[i];
        long long mult = 1;
        bool repeat = false;
        if (c == '(') {
            if (depth + 1 >= DEPTH)
                return cap;
            acc[++depth] = 0;
            last = 0;
        } else if (c == ')' && depth > 0) {
            last = acc[depth--] + 1;
            acc[depth] += last;
        } else if (c == '+') {
            mult = 2;
            repeat = true;
        } else if (c == '{' && policy_regex_braces(p, &i, cap, &mult)) {
            repeat = true;
        } else if (c == '*' || c == '?') {
            /* a loop or an alternative: no copy, and a following repeat still copies `last` */
            acc[depth] += 1;
            repeat = true;
        } else {
            /* one atom: a character, an escaped one or a bracket expression */
            if (c == '\\') {
                if (p[i + 1] >= '1' && p[i + 1] <= '9')
                    *unsupported = "uses a back-reference (\\1..\\9), which is not supported";
                if (p[i + 1] != '\0')
                    i++;
            } else if (c == '[') {
                i = policy_regex_bracket_end(p, i);
            }
            last = 1;
            acc[depth] += 1;
        }
        if (repeat && after_repeat)
            *unsupported = "has repeat operators in a row (e.g. \"a**\" or \"a{2}+\"), which "
                           "are not supported";
        after_repeat = repeat;
        if (mult > 1) {
            acc[depth] += last * (mult - 1);
            last *= mult;
        }
        if (acc[depth] > cap || last > cap)
            return cap;
    }
    long long total = 0;
    for (int d = 0; d <= depth; d++)
        total += acc[d];
    return total > cap ? cap : total;
}

/* Compiles pat as an extended regex into out, or sets "PATH: invalid regex Q: why". */
static int policy_regex_build(const char *pat, const char *path, const char *q, regex_t *out,
                              struct err *err)
{
    /* Compile alone first: "a)|(b" must not escape the anchoring wrapper below. */
    regex_t probe;
    const regex_t *failed = &probe;
    int rc = regcomp(&probe, pat, REG_EXTENDED | REG_NOSUB);
    if (rc == 0) {
        regfree(&probe);
        char *wrapped = xasprintf("^(%s)$", pat);
        rc = regcomp(out, wrapped, REG_EXTENDED | REG_NOSUB);
        free(wrapped);
        if (rc == 0)
            return 0;
        failed = out;
    }
    char why[256];
    regerror(rc, failed, why, sizeof(why));
    err_set(err, ERR_INVALID, "%s: invalid regex %s: %s", path, q, why);
    return -1;
}

int policy_regex_compile(const char *pat, const char *path, regex_t *out, long long *budget,
                         struct err *err)
{
    return policy_regex_compile_as(pat, pat, path, out, budget, err);
}

int policy_regex_compile_as(const char *pat, const char *shown, const char *path, regex_t *out,
                            long long *budget, struct err *err)
{
    char q[UTF8_ESCAPE_SIZE(POLICY_MAX_VALUE_ECHO)];
    utf8_escape(shown, POLICY_MAX_VALUE_ECHO, true, q, sizeof(q));
    const char *unsupported = NULL;
    long long cost = policy_regex_cost(pat, &unsupported);
    if (unsupported != NULL) {
        err_set(err, ERR_INVALID, "%s: regex %s %s", path, q, unsupported);
        return -1;
    }
    if (cost > POLICY_MAX_REGEX_COST) {
        err_set(err, ERR_INVALID,
                "%s: regex %s is too large once its repeats are expanded (limit %d)", path, q,
                POLICY_MAX_REGEX_COST);
        return -1;
    }
    if (cost > *budget) {
        err_set(err, ERR_INVALID,
                "%s: the policy's regexes together are too large once expanded (limit %d)", path,
                POLICY_MAX_REGEX_TOTAL);
        return -1;
    }
    *budget -= cost;
    return policy_regex_build(pat, path, q, out, err);
}
