/* test_tokenrequest.c -- unit tests of tokenrequest.c: the path and body of a TokenRequest, the
 * answer parser, the error of each refusal, and tokenrequest_create through an in-process post
 * function (no network). */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "kube/tokenrequest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/mem.h"
#include "kube/kube.h"

#define TOKEN "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOlsidmF1bHQiXX0.c2lnbmF0dXJl"

/* A TokenRequest answer as the API server makes it, with the given status JSON. */
static char *answer(const char *status)
{
    return xasprintf("{\"kind\":\"TokenRequest\",\"apiVersion\":\"authentication.k8s.io/v1\","
                     "\"metadata\":{\"name\":\"vault-auth\",\"namespace\":\"team-a\","
                     "\"creationTimestamp\":\"2026-12-07T17:00:00Z\"},"
                     "\"spec\":{\"audiences\":[\"vault://team-a/vault\"],"
                     "\"expirationSeconds\":600,\"boundObjectRef\":null},"
                     "\"status\":%s}",
                     status);
}

static int parse_status(const char *status, char **token, struct err *err)
{
    char *body = answer(status);
    int rc = tokenrequest_parse(body, strlen(body), token, err);
    free(body);
    return rc;
}

/* ---- path and body ----------------------------------------------------------------------------
 */

static void test_path(void **state)
{
    (void)state;
    char p[256];
    struct err err = {0};
    assert_int_equal(tokenrequest_path("team-a", "vault-auth", p, sizeof p, &err), 0);
    assert_string_equal(p, "/api/v1/namespaces/team-a/serviceaccounts/vault-auth/token");
    assert_int_equal(tokenrequest_path("team-a", "sa.with.dots", p, sizeof p, &err), 0);
    assert_string_equal(p, "/api/v1/namespaces/team-a/serviceaccounts/sa.with.dots/token");

    /* nothing that could reach another path, or the query */
    const char *bad_names[] = {"", "../secrets/x", "a/b", "a?b", "A", "a b", "-a"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        err_clear(&err);
        assert_int_equal(tokenrequest_path("team-a", bad_names[i], p, sizeof p, &err), -1);
        assert_int_equal(err.kind, ERR_INVALID);
        assert_non_null(strstr(err.msg, "service account name is not a valid Kubernetes name"));
    }
    assert_int_equal(tokenrequest_path("a.b", "x", p, sizeof p, &err), -1);
    assert_non_null(strstr(err.msg, "namespace"));
    assert_int_equal(tokenrequest_path(NULL, "x", p, sizeof p, &err), -1);
    assert_int_equal(tokenrequest_path("team-a", NULL, p, sizeof p, &err), -1);
    assert_int_equal(tokenrequest_path("team-a", "vault-auth", p, 20, &err), -1);
    assert_int_equal(err.kind, ERR_TOO_BIG);
}

static void test_body(void **state)
{
    (void)state;
    struct err err = {0};
    const char *auds[] = {"vault://team-a/vault", "https://vault.example.com"};
    char *b = tokenrequest_body(auds, 2, 600, &err);
    assert_non_null(b);
    assert_string_equal(b, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
                           "\"spec\":{\"audiences\":[\"vault://team-a/vault\","
                           "\"https://vault.example.com\"],\"expirationSeconds\":600}}");
    free(b);

    /* an audience with a quote is escaped, not spliced */
    const char *odd[] = {"a\"b\\c"};
    b = tokenrequest_body(odd, 1, 3600, &err);
    assert_non_null(b);
    cJSON *root = cJSON_Parse(b);
    const cJSON *a0 =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "spec"), "audiences"), 0);
    assert_string_equal(a0->valuestring, "a\"b\\c");
    cJSON_Delete(root);
    free(b);
}

static void test_body_refused(void **state)
{
    (void)state;
    struct err err = {0};
    const char *one[] = {"vault"};
    assert_null(tokenrequest_body(one, 0, 600, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.msg, "a TokenRequest needs 1 to 16 audiences, not 0");
    const char *many[TOKENREQUEST_MAX_AUDIENCES + 1];
    for (size_t i = 0; i <= TOKENREQUEST_MAX_AUDIENCES; i++)
        many[i] = "a";
    char *b = tokenrequest_body(many, TOKENREQUEST_MAX_AUDIENCES, 600, &err);
    assert_non_null(b);
    free(b);
    assert_null(tokenrequest_body(many, TOKENREQUEST_MAX_AUDIENCES + 1, 600, &err));
    const char *empty[] = {"vault", ""};
    assert_null(tokenrequest_body(empty, 2, 600, &err));
    assert_string_equal(err.msg, "audience 2 of the TokenRequest is empty, longer than 1024 bytes "
                                 "or holds a control character");
    const char *ctl[] = {"va\nult"};
    assert_null(tokenrequest_body(ctl, 1, 600, &err));
    char longaud[TOKENREQUEST_MAX_AUDIENCE_BYTES + 2];
    memset(longaud, 'a', sizeof longaud - 1);
    longaud[sizeof longaud - 1] = '\0';
    const char *lng[] = {longaud};
    assert_null(tokenrequest_body(lng, 1, 600, &err));
    longaud[TOKENREQUEST_MAX_AUDIENCE_BYTES] = '\0'; /* exactly the limit */
    b = tokenrequest_body(lng, 1, 600, &err);
    assert_non_null(b);
    free(b);
    /* the API server's bounds: 10 minutes to 2^32 seconds */
    assert_null(tokenrequest_body(one, 1, 599, &err));
    assert_string_equal(err.msg, "a TokenRequest's expirationSeconds must be 600 to 4294967296 "
                                 "(the API server's bounds), not 599");
    assert_null(tokenrequest_body(one, 1, -1, &err));
    assert_null(tokenrequest_body(one, 1, 4294967297L, &err));
    b = tokenrequest_body(one, 1, 4294967296L, &err);
    assert_non_null(strstr(b, "\"expirationSeconds\":4294967296}"));
    free(b);
}

/* ---- the answer -------------------------------------------------------------------------------
 */

static void test_parse_ok(void **state)
{
    (void)state;
    char *tok = NULL;
    struct err err = {0};
    assert_int_equal(parse_status("{\"token\":\"" TOKEN
                                  "\",\"expirationTimestamp\":\"2026-12-07T17:10:00Z\"}",
                                  &tok, &err),
                     0);
    assert_string_equal(tok, TOKEN);
    xfree_secret(tok, strlen(tok) + 1);

    /* a token of exactly KUBE_MAX_TOKEN_BYTES */
    char *big = xmalloc(KUBE_MAX_TOKEN_BYTES + 1);
    memset(big, 'x', KUBE_MAX_TOKEN_BYTES);
    big[KUBE_MAX_TOKEN_BYTES] = '\0';
    char *st = xasprintf("{\"token\":\"%s\"}", big);
    assert_int_equal(parse_status(st, &tok, &err), 0);
    assert_int_equal(strlen(tok), KUBE_MAX_TOKEN_BYTES);
    xfree_secret(tok, strlen(tok) + 1);
    free(st);
    free(big);
}

static void test_parse_refused(void **state)
{
    (void)state;
    static const struct {
        const char *status, *msg;
    } cases[] = {
        {"{}", "the TokenRequest answer has no status.token"},
        {"null", "the TokenRequest answer has no status.token"},
        {"{\"token\":\"\"}", "the TokenRequest answer has no status.token"},
        {"{\"token\":42}", "the TokenRequest answer has no status.token"},
        {"{\"token\":\"two words\"}", "the token in the TokenRequest answer holds a space, a "
                                      "control character or a non-ASCII byte"},
        {"{\"token\":\"caf\\u00e9\"}", "the token in the TokenRequest answer holds a space, a "
                                       "control character or a non-ASCII byte"},
        {"{\"token\":\"a\\tb\"}", "the token in the TokenRequest answer holds a space, a "
                                  "control character or a non-ASCII byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *tok = (char *)"unchanged";
        struct err err = {0};
        assert_int_equal(parse_status(cases[i].status, &tok, &err), -1);
        assert_null(tok);
        assert_int_equal(err.kind, ERR_TRANSIENT);
        assert_string_equal(err.msg, cases[i].msg);
    }

    char *tok = NULL;
    struct err err = {0};
    const char *not_tr = "{\"kind\":\"Status\",\"status\":{\"token\":\"" TOKEN "\"}}";
    assert_int_equal(tokenrequest_parse(not_tr, strlen(not_tr), &tok, &err), -1);
    assert_string_equal(err.msg, "the answer to the TokenRequest is not a TokenRequest");
    assert_int_equal(tokenrequest_parse("[1]", 3, &tok, &err), -1);
    assert_string_equal(err.msg, "the TokenRequest answer is not a JSON object");
    assert_int_equal(tokenrequest_parse("{\"kind\":", 8, &tok, &err), -1);
    assert_int_equal(tokenrequest_parse(NULL, 0, &tok, &err), -1);
    assert_null(tok);

    /* one byte past the token limit */
    char *big = xmalloc(KUBE_MAX_TOKEN_BYTES + 2);
    memset(big, 'x', KUBE_MAX_TOKEN_BYTES + 1);
    big[KUBE_MAX_TOKEN_BYTES + 1] = '\0';
    char *st = xasprintf("{\"token\":\"%s\"}", big);
    assert_int_equal(parse_status(st, &tok, &err), -1);
    assert_string_equal(err.msg, "the token in the TokenRequest answer is longer than 16384 bytes");
    assert_null(strstr(err.msg, "xxxx"));
    free(st);
    free(big);

    /* an answer past the cap is not even parsed */
    size_t n = TOKENREQUEST_MAX_ANSWER_BYTES + 1;
    char *huge = xmalloc(n + 1);
    memset(huge, ' ', n);
    huge[n] = '\0';
    char *ok = answer("{\"token\":\"" TOKEN "\"}");
    memcpy(huge, ok, strlen(ok));
    free(ok);
    assert_int_equal(tokenrequest_parse(huge, n, &tok, &err), -1);
    assert_string_equal(err.msg, "the TokenRequest answer is longer than 65536 bytes");
    assert_int_equal(tokenrequest_parse(huge, n - 1, &tok, &err), 0); /* the cap itself is fine */
    assert_string_equal(tok, TOKEN);
    xfree_secret(tok, strlen(tok) + 1);
    free(huge);
}

/* ---- refusals ---------------------------------------------------------------------------------
 */

static void error_of(long code, const char *reason, const char *message, struct err *err)
{
    struct kube_response r;
    memset(&r, 0, sizeof r);
    r.code = code;
    snprintf(r.status.reason, sizeof r.status.reason, "%s", reason);
    snprintf(r.status.message, sizeof r.status.message, "%s", message);
    err_clear(err);
    tokenrequest_answer_error(&r, "team-a", "vault-auth", err);
}

static void test_answer_error(void **state)
{
    (void)state;
    struct err err;
    error_of(403, "Forbidden",
             "serviceaccounts \"vault-auth\" is forbidden: User "
             "\"system:serviceaccount:ember:ember-issuer\" cannot create resource "
             "\"serviceaccounts/token\" in API group \"\" in the namespace \"team-a\"",
             &err);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_string_equal(
        err.msg, "Ember may not request tokens of service account team-a/vault-auth (403 "
                 "Forbidden: serviceaccounts \"vault-auth\" is forbidden: User "
                 "\"system:serviceaccount:ember:ember-issuer\" cannot create resource "
                 "\"serviceaccounts/token\" in API group \"\" in the namespace \"team-a\"): grant "
                 "Ember's service account the verb create on the resource serviceaccounts/token "
                 "in namespace team-a (a Role and RoleBinding there; resourceNames may list "
                 "vault-auth)");

    error_of(404, "NotFound", "serviceaccounts \"vault-auth\" not found", &err);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_string_equal(err.msg,
                        "the service account team-a/vault-auth does not exist (404 NotFound: "
                        "serviceaccounts \"vault-auth\" not found): create it in namespace "
                        "team-a, or name an existing one in serviceAccountRef.name");

    error_of(422, "Invalid",
             "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: "
             "Invalid value: 10: may not specify a duration less than 10 minutes",
             &err);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_non_null(strstr(err.msg, "refused the TokenRequest for service account "
                                    "team-a/vault-auth (HTTP 422 Invalid): TokenRequest"));

    error_of(400, "BadRequest", "bad", &err);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);

    static const long transient[] = {401, 409, 429, 500, 503, 504};
    for (size_t i = 0; i < sizeof transient / sizeof *transient; i++) {
        error_of(transient[i], "", "", &err);
        assert_int_equal(err.kind, ERR_TRANSIENT);
        assert_non_null(strstr(err.msg, "team-a/vault-auth"));
    }
    error_of(500, "InternalError", "Internal error occurred: etcd", &err);
    assert_string_equal(err.msg, "the API server could not make a token for service account "
                                 "team-a/vault-auth: HTTP 500 InternalError: Internal error "
                                 "occurred: etcd");
    /* control characters of the API server's message are not passed on */
    error_of(404, "NotFound", "a\nb\x1b[31m", &err);
    assert_null(strchr(err.msg, '\n'));
    assert_null(strchr(err.msg, '\x1b'));
}

/* ---- tokenrequest_create ----------------------------------------------------------------------
 */

struct fake_post {
    int calls;
    char path[256];
    char body[1024];
    long code; /* answered */
    const char *answer;
    int fail; /* -1: a network failure */
};

static int fake_post(void *ud, const char *path, const char *body, size_t len,
                     struct kube_response *out, struct err *err)
{
    struct fake_post *f = ud;
    f->calls++;
    snprintf(f->path, sizeof f->path, "%s", path);
    assert_int_equal(strlen(body), len);
    snprintf(f->body, sizeof f->body, "%s", body);
    memset(out, 0, sizeof *out);
    if (f->fail) {
        err_set(err, ERR_TRANSIENT, "POST https://127.0.0.1:1: connection refused");
        return -1;
    }
    out->code = f->code;
    out->body = xstrdup(f->answer);
    out->len = strlen(f->answer);
    if (f->code >= 300)
        kube_status_parse(out->body, out->len, out->code, NULL, &out->status);
    return 0;
}

static const char *const AUDS[] = {"vault://team-a/vault", "https://vault.example.com"};

static void test_create(void **state)
{
    (void)state;
    char *ans =
        answer("{\"token\":\"" TOKEN "\",\"expirationTimestamp\":\"2026-12-07T17:10:00Z\"}");
    struct fake_post f = {.code = 201, .answer = ans};
    char *tok = NULL;
    struct err err = {0};
    assert_int_equal(
        tokenrequest_create(fake_post, &f, "team-a", "vault-auth", AUDS, 2, 600, &tok, &err), 0);
    assert_string_equal(tok, TOKEN);
    xfree_secret(tok, strlen(tok) + 1);
    assert_int_equal(f.calls, 1);
    assert_string_equal(f.path, "/api/v1/namespaces/team-a/serviceaccounts/vault-auth/token");
    cJSON *b = cJSON_Parse(f.body);
    const cJSON *spec = cJSON_GetObjectItem(b, "spec");
    assert_int_equal(cJSON_GetObjectItem(spec, "expirationSeconds")->valuedouble, 600);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(spec, "audiences")), 2);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "audiences"), 1)->valuestring,
                        "https://vault.example.com");
    assert_string_equal(cJSON_GetObjectItem(b, "kind")->valuestring, "TokenRequest");
    cJSON_Delete(b);
    free(ans);

    /* a 201 that holds no token */
    f = (struct fake_post){.code = 201, .answer = "{\"kind\":\"TokenRequest\",\"status\":{}}"};
    assert_int_equal(
        tokenrequest_create(fake_post, &f, "team-a", "vault-auth", AUDS, 2, 600, &tok, &err), -1);
    assert_null(tok);
    assert_int_equal(err.kind, ERR_TRANSIENT);
    assert_string_equal(err.msg,
                        "service account team-a/vault-auth: the TokenRequest answer has no "
                        "status.token");
}

static void test_create_refused(void **state)
{
    (void)state;
    char *tok = NULL;
    struct err err = {0};
    struct fake_post f = {.code = 403,
                          .answer = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
                                    "\"Failure\",\"message\":\"serviceaccounts \\\"vault-auth\\\" "
                                    "is forbidden: no\",\"reason\":\"Forbidden\",\"code\":403}"};
    assert_int_equal(
        tokenrequest_create(fake_post, &f, "team-a", "vault-auth", AUDS, 2, 600, &tok, &err), -1);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_non_null(strstr(err.msg, "(403 Forbidden: serviceaccounts \"vault-auth\" is forbidden: "
                                    "no): grant Ember's service account the verb create"));
    assert_null(tok);

    f = (struct fake_post){.code = 404,
                           .answer = "{\"kind\":\"Status\",\"code\":404,"
                                     "\"reason\":\"NotFound\",\"message\":\"gone\"}"};
    assert_int_equal(
        tokenrequest_create(fake_post, &f, "team-a", "vault-auth", AUDS, 2, 600, &tok, &err), -1);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_non_null(strstr(err.msg, "does not exist"));

    f = (struct fake_post){.code = 503, .answer = ""};
    assert_int_equal(
        tokenrequest_create(fake_post, &f, "team-a", "vault-auth", AUDS, 2, 600, &tok, &err), -1);
    assert_int_equal(err.kind, ERR_TRANSIENT);

    f = (struct fake_post){.fail = 1};
    assert_int_equal(
        tokenrequest_create(fake_post, &f, "team-a", "vault-auth", AUDS, 2, 600, &tok, &err), -1);
    assert_int_equal(err.kind, ERR_TRANSIENT);
    assert_string_equal(err.msg, "the TokenRequest for service account team-a/vault-auth could "
                                 "not be sent: POST https://127.0.0.1:1: connection refused");

    /* refused before anything is sent: an invalid name, no audience, too short a lifetime */
    f = (struct fake_post){.code = 201, .answer = "{}"};
    assert_int_equal(tokenrequest_create(fake_post, &f, "team-a", "../x", AUDS, 2, 600, &tok, &err),
                     -1);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_int_equal(
        tokenrequest_create(fake_post, &f, "team-a", "vault-auth", AUDS, 0, 600, &tok, &err), -1);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_string_equal(err.msg, "no token for service account team-a/vault-auth: a TokenRequest "
                                 "needs 1 to 16 audiences, not 0");
    assert_int_equal(
        tokenrequest_create(fake_post, &f, "team-a", "vault-auth", AUDS, 2, 60, &tok, &err), -1);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_int_equal(f.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),          cmocka_unit_test(test_body),
        cmocka_unit_test(test_body_refused),  cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_refused), cmocka_unit_test(test_answer_error),
        cmocka_unit_test(test_create),        cmocka_unit_test(test_create_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
