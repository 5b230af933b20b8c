/* test_log.c -- unit tests for log.c: JSON and text lines read back from a pipe. */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/log.h"

#include <cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pipe_fds {
    int r, w;
};

static int setup(void **state)
{
    struct pipe_fds *p = malloc(sizeof(*p));
    int fds[2];
    if (p == NULL || pipe(fds) != 0)
        return -1;
    p->r = fds[0];
    p->w = fds[1];
    /* Non-blocking reads, so "nothing was written" is testable. */
    fcntl(p->r, F_SETFL, O_NONBLOCK);
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct pipe_fds *p = *state;
    close(p->r);
    close(p->w);
    free(p);
    log_init(LOG_FORMAT_JSON, LOG_INFO, 2);
    return 0;
}

/* Reads everything written so far (the writer is done) into a malloc'd string. */
static char *drain(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }
        ssize_t n = read(fd, s + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    s[len] = '\0';
    return s;
}

/* Parses the single JSON line in text (which must end with exactly one newline). */
static cJSON *parse_line(const char *text)
{
    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    assert_null(memchr(text, '\n', len - 1));
    cJSON *j = cJSON_ParseWithLength(text, len);
    assert_non_null(j);
    return j;
}

static const char *str_field(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_json_fields(void **state)
{
    struct pipe_fds *p = *state;
    log_init(LOG_FORMAT_JSON, LOG_INFO, p->w);
    time_t before = time(NULL);
    LOG(LOG_INFO, "controller", "istio-system/mesh-1", "vault sealed", "retrying in %ds", 5);
    char *text = drain(p->r);
    cJSON *j = parse_line(text);
    assert_string_equal(str_field(j, "level"), "info");
    assert_string_equal(str_field(j, "logger"), "controller");
    assert_string_equal(str_field(j, "msg"), "retrying in 5s");
    assert_string_equal(str_field(j, "object"), "istio-system/mesh-1");
    assert_string_equal(str_field(j, "error"), "vault sealed");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "ts");
    assert_true(cJSON_IsNumber(ts));
    /* Epoch seconds (not ms, not 0). The window is wide because the wall clock may be stepped
     * between the two readings on a shared machine; a unit error is 1000x off anyway. */
    assert_true(ts->valuedouble >= (double)before - 3600 &&
                ts->valuedouble <= (double)time(NULL) + 3600);
    /* Keys appear in controller-runtime's order. */
    assert_true(strstr(text, "\"level\"") < strstr(text, "\"ts\""));
    assert_true(strstr(text, "\"logger\"") < strstr(text, "\"msg\""));
    assert_true(strstr(text, "\"msg\"") < strstr(text, "\"object\""));
    cJSON_Delete(j);
    free(text);
}

static void test_json_optional_fields_absent(void **state)
{
    struct pipe_fds *p = *state;
    log_init(LOG_FORMAT_JSON, LOG_DEBUG, p->w);
    LOG(LOG_WARN, "api", NULL, NULL, "listening");
    char *text = drain(p->r);
    cJSON *j = parse_line(text);
    assert_string_equal(str_field(j, "level"), "warn");
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "object"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "error"));
    assert_int_equal(cJSON_GetArraySize(j), 4);
    cJSON_Delete(j);
    free(text);

    log_write(LOG_DEBUG, NULL, NULL, NULL, "no logger");
    text = drain(p->r);
    j = parse_line(text);
    assert_string_equal(str_field(j, "level"), "debug");
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "logger"));
    assert_string_equal(str_field(j, "msg"), "no logger");
    cJSON_Delete(j);
    free(text);
}

static void test_json_escaping(void **state)
{
    struct pipe_fds *p = *state;
    log_init(LOG_FORMAT_JSON, LOG_INFO, p->w);
    const char *hostile = "say \"hi\"\nnext\\line\ttab\r\x01\x1b[31m\x7f caf\xc3\xa9";
    LOG(LOG_ERROR, "api\"x", "ns/\"n\"", "bad\nthing", "%s", hostile);
    char *text = drain(p->r);
    /* Raw control bytes never reach the log stream. */
    for (const char *c = text; *c != '\n'; c++)
        assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
    assert_non_null(strstr(text, "\\u001b"));
    cJSON *j = parse_line(text);
    assert_string_equal(str_field(j, "msg"), hostile);
    assert_string_equal(str_field(j, "logger"), "api\"x");
    assert_string_equal(str_field(j, "object"), "ns/\"n\"");
    assert_string_equal(str_field(j, "error"), "bad\nthing");
    cJSON_Delete(j);
    free(text);
}

static void test_json_invalid_utf8_replaced(void **state)
{
    struct pipe_fds *p = *state;
    log_init(LOG_FORMAT_JSON, LOG_INFO, p->w);
    /* a lone continuation byte, a truncated sequence, an overlong '/', a surrogate */
    LOG(LOG_INFO, "csr", NULL, NULL,
        "a\x80"
        "b\xe2\x82"
        "c\xc0\xaf"
        "d\xed\xa0\x80"
        "e");
    char *text = drain(p->r);
    cJSON *j = parse_line(text);
    assert_non_null(strstr(text, "\"a\\ufffdb\\ufffd\\ufffdc"));
#define R "\xef\xbf\xbd"
    assert_string_equal(str_field(j, "msg"), "a" R "b" R R "c" R R "d" R R R "e");
#undef R
    cJSON_Delete(j);
    free(text);
}

static void test_long_line_cut(void **state)
{
    struct pipe_fds *p = *state;
    log_init(LOG_FORMAT_JSON, LOG_INFO, p->w);
    size_t n = 3 * LOG_LINE_MAX;
    char *big = malloc(n + 1);
    assert_non_null(big);
    /* "é" (2 bytes) and quotes (2 bytes escaped) so a naive cut would split a character. */
    for (size_t i = 0; i + 2 <= n; i += 3) {
        big[i] = '"';
        big[i + 1] = (char)0xc3;
        big[i + 2] = (char)0xa9;
    }
    big[n - n % 3] = '\0';
    LOG(LOG_INFO, "api", "ns/name", "the error survives", "%s", big);
    char *text = drain(p->r);
    assert_true(strlen(text) <= LOG_LINE_MAX);
    assert_true(strlen(text) > LOG_LINE_MAX / 2);
    cJSON *j = parse_line(text);
    const char *msg = str_field(j, "msg");
    assert_non_null(msg);
    size_t mlen = strlen(msg);
    assert_string_equal(msg + mlen - 3, "...");
    /* The cut fell on a character boundary: before the marker comes a whole "é" or a quote. */
    assert_true(msg[mlen - 4] == '"' || memcmp(msg + mlen - 5, "\xc3\xa9", 2) == 0);
    assert_string_equal(str_field(j, "error"), "the error survives");
    assert_string_equal(str_field(j, "object"), "ns/name");
    cJSON_Delete(j);
    free(text);
    free(big);
}

static int evaluated;

static const char *side_effect(void)
{
    evaluated++;
    return "x";
}

static void test_level_filtering(void **state)
{
    struct pipe_fds *p = *state;
    log_init(LOG_FORMAT_JSON, LOG_WARN, p->w);
    assert_false(log_enabled(LOG_DEBUG));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));
    evaluated = 0;
    LOG(LOG_INFO, "api", NULL, NULL, "%s", side_effect());
    LOG(LOG_DEBUG, "api", NULL, NULL, "%s", side_effect());
    assert_int_equal(evaluated, 0); /* arguments are not even evaluated */
    char *text = drain(p->r);
    assert_string_equal(text, "");
    free(text);
    LOG(LOG_ERROR, "api", NULL, NULL, "%s", side_effect());
    assert_int_equal(evaluated, 1);
    text = drain(p->r);
    cJSON *j = parse_line(text);
    assert_string_equal(str_field(j, "level"), "error");
    cJSON_Delete(j);
    free(text);
}

static void test_text_format(void **state)
{
    struct pipe_fds *p = *state;
    log_init(LOG_FORMAT_TEXT, LOG_INFO, p->w);
    LOG(LOG_INFO, "api", "ns/name", "vault said \"no\"", "signed %d certificates", 3);
    char *text = drain(p->r);
    int y, mo, d, h, mi, s, ms;
    char tail[256];
    assert_int_equal(
        sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %255[^\n]", &y, &mo, &d, &h, &mi, &s, &ms, tail),
        8);
    assert_true(y >= 2024 && mo >= 1 && mo <= 12 && ms >= 0 && ms <= 999);
    assert_int_equal(text[23], 'Z');
    assert_string_equal(text + 24,
                        " INFO  api: signed 3 certificates object=ns/name error=\"vault said "
                        "\\\"no\\\"\"\n");
    free(text);

    /* Levels are padded to one width; newlines and escapes cannot forge a second line. */
    LOG(LOG_ERROR, NULL, NULL, NULL, "line1\nFAKE\x1b[0m");
    text = drain(p->r);
    assert_string_equal(text + 24, " ERROR line1\\nFAKE\\x1b[0m\n");
    free(text);
}

#define THREADS 4
#define LINES_PER_THREAD 50

struct writer_arg {
    int id;
};

static void *writer(void *arg)
{
    const struct writer_arg *w = arg;
    char *msg = malloc(10000);
    memset(msg, 'a' + w->id, 9999);
    msg[9999] = '\0';
    for (int i = 0; i < LINES_PER_THREAD; i++)
        LOG(LOG_INFO, "worker", NULL, NULL, "%d %s", w->id, msg);
    free(msg);
    return NULL;
}

struct reader_arg {
    int fd;
    char *data;
    size_t len;
};

static void *reader(void *arg)
{
    struct reader_arg *r = arg;
    size_t cap = 1 << 20;
    r->data = malloc(cap);
    r->len = 0;
    for (;;) {
        if (r->len + 65536 > cap) {
            cap *= 2;
            r->data = realloc(r->data, cap);
        }
        ssize_t n = read(r->fd, r->data + r->len, cap - r->len - 1);
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    r->data[r->len] = '\0';
    return NULL;
}

static void test_concurrent_lines_do_not_interleave(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    log_init(LOG_FORMAT_JSON, LOG_INFO, fds[1]);
    struct reader_arg r = {.fd = fds[0]};
    pthread_t rt, wt[THREADS];
    struct writer_arg wa[THREADS];
    pthread_create(&rt, NULL, reader, &r);
    for (int i = 0; i < THREADS; i++) {
        wa[i].id = i;
        pthread_create(&wt[i], NULL, writer, &wa[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(wt[i], NULL);
    close(fds[1]);
    pthread_join(rt, NULL);
    close(fds[0]);
    log_init(LOG_FORMAT_JSON, LOG_INFO, 2);

    int per[THREADS] = {0};
    int lines = 0;
    for (char *line = r.data; *line != '\0';) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(nl - line));
        assert_non_null(j);
        const char *msg = str_field(j, "msg");
        assert_non_null(msg);
        int id = msg[0] - '0';
        assert_true(id >= 0 && id < THREADS);
        assert_int_equal(strlen(msg), 2 + 9999);
        assert_int_equal(strspn(msg + 2, (char[]){(char)('a' + id), 0}), 9999);
        per[id]++;
        lines++;
        cJSON_Delete(j);
        line = nl + 1;
    }
    assert_int_equal(lines, THREADS * LINES_PER_THREAD);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(per[i], LINES_PER_THREAD);
    free(r.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_optional_fields_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_invalid_utf8_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filtering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_format, setup, teardown),
        cmocka_unit_test(test_concurrent_lines_do_not_interleave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
