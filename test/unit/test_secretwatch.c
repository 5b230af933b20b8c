/* test_secretwatch.c -- signers/secretwatch: what a load read, and whether it changed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "signers/secret.h"
#include "signers/secretwatch.h"

/* The fake API server: name -> the Secret object, all in namespace "team". */
static cJSON *store;
static bool transient; /* reads fail with ERR_TRANSIENT */
static int reads;

static cJSON *fake_get_secret(void *ud, const char *ns, const char *name, struct err *err)
{
    assert_int_equal(*(int *)ud, 42);
    assert_string_equal(ns, "team");
    reads++;
    if (transient) {
        err_set(err, ERR_TRANSIENT, "the API server did not answer");
        return NULL;
    }
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(store, name);
    if (s == NULL) {
        err_set(err, ERR_ISSUER_NOT_READY, "secrets \"%s\" not found", name);
        return NULL;
    }
    return cJSON_Duplicate(s, 1);
}

static void put(const char *name, const char *json)
{
    cJSON *s = cJSON_Parse(json);
    assert_non_null(s);
    if (cJSON_GetObjectItemCaseSensitive(store, name) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(store, name, s);
    else
        cJSON_AddItemToObject(store, name, s);
}

static int the_ud = 42;

static struct secretwatch *setup_watch(struct signer_env *env)
{
    cJSON_Delete(store);
    store = cJSON_CreateObject();
    transient = false;
    reads = 0;
    struct signer_env real = {.get_secret = fake_get_secret, .ud = &the_ud};
    struct secretwatch *w = secretwatch_new(&real);
    secretwatch_env(w, env);
    assert_null(env->get_token); /* the real one is NULL: a row sees there is none */
    return w;
}

/* Reads name through env as a load does, checking the watch forwards the Secret itself. */
static void load_read(const struct signer_env *env, const char *name)
{
    struct err e = {0};
    cJSON *s = env->get_secret(env->ud, "team", name, &e);
    assert_non_null(s);
    cJSON_Delete(s);
}

static void test_changed_and_gone(void **state)
{
    (void)state;
    struct signer_env env;
    struct secretwatch *w = setup_watch(&env);
    put("vault-ca", "{\"data\":{\"ca.crt\":\"QUFB\",\"other\":\"Qg==\"}}");
    put("client", "{\"stringData\":{\"tls.crt\":\"C\",\"tls.key\":\"K\"}}");
    put("unread", "{\"data\":{\"x\":\"eA==\"}}");
    load_read(&env, "vault-ca"); /* before start: not recorded */
    secretwatch_start(w);
    load_read(&env, "vault-ca");
    load_read(&env, "client");
    load_read(&env, "client"); /* the certificate and the key of one Secret: once */
    struct err e = {0};
    assert_null(env.get_secret(env.ud, "team", "missing", &e)); /* a failed read: not recorded */
    assert_int_equal(e.kind, ERR_ISSUER_NOT_READY);
    secretwatch_stop(w);
    load_read(&env, "unread"); /* after stop (a login's read): not recorded */
    assert_int_equal(secretwatch_count(w), 2);

    char which[128] = "";
    reads = 0;
    assert_false(secretwatch_changed(w, which, sizeof(which)));
    assert_int_equal(reads, 2);
    /* The same keys and values in another order: the same Secret. */
    put("vault-ca", "{\"data\":{\"other\":\"Qg==\",\"ca.crt\":\"QUFB\"},\"metadata\":{\"x\":1}}");
    put("unread", "{\"data\":{\"x\":\"eQ==\"}}");
    assert_false(secretwatch_changed(w, which, sizeof(which)));
    /* A new CA bundle. */
    put("vault-ca", "{\"data\":{\"ca.crt\":\"QkJC\",\"other\":\"Qg==\"}}");
    assert_true(secretwatch_changed(w, which, sizeof(which)));
    assert_string_equal(which, "team/vault-ca");
    put("vault-ca", "{\"data\":{\"ca.crt\":\"QUFB\",\"other\":\"Qg==\"}}");
    assert_false(secretwatch_changed(w, which, sizeof(which)));
    /* A key added, or moved from stringData to data, is a change too. */
    put("client", "{\"stringData\":{\"tls.crt\":\"C\",\"tls.key\":\"K\",\"ca.crt\":\"A\"}}");
    assert_true(secretwatch_changed(w, which, sizeof(which)));
    assert_string_equal(which, "team/client");
    put("client", "{\"stringData\":{\"tls.crt\":\"C\"},\"data\":{\"tls.key\":\"K\"}}");
    assert_true(secretwatch_changed(w, which, sizeof(which)));
    put("client", "{\"stringData\":{\"tls.crt\":\"C\",\"tls.key\":\"K\"}}");
    assert_false(secretwatch_changed(w, which, sizeof(which)));
    /* Gone. */
    cJSON_DeleteItemFromObjectCaseSensitive(store, "client");
    assert_true(secretwatch_changed(w, which, sizeof(which)));
    assert_string_equal(which, "team/client");
    secretwatch_free(w);
}

static void test_transient_is_unknown(void **state)
{
    (void)state;
    struct signer_env env;
    struct secretwatch *w = setup_watch(&env);
    put("vault-ca", "{\"data\":{\"ca.crt\":\"QUFB\"}}");
    secretwatch_start(w);
    load_read(&env, "vault-ca");
    secretwatch_stop(w);
    put("vault-ca", "{\"data\":{\"ca.crt\":\"QkJC\"}}");
    transient = true;
    char which[128];
    reads = 0;
    assert_false(secretwatch_changed(w, which, sizeof(which))); /* cannot tell now */
    assert_int_equal(reads, 1);
    transient = false;
    assert_true(secretwatch_changed(w, which, sizeof(which))); /* the next re-check can */
    secretwatch_free(w);
}

/* Another thread's reads while loading (a sub-CA thread's login) are not recorded. */
static void *other_thread(void *arg)
{
    load_read(arg, "login");
    return NULL;
}

static void test_other_threads_not_recorded(void **state)
{
    (void)state;
    struct signer_env env;
    struct secretwatch *w = setup_watch(&env);
    put("vault-ca", "{\"data\":{\"ca.crt\":\"QUFB\"}}");
    put("login", "{\"stringData\":{\"secretId\":\"s\"}}");
    secretwatch_start(w);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, &env), 0);
    pthread_join(t, NULL);
    load_read(&env, "vault-ca");
    secretwatch_stop(w);
    assert_int_equal(secretwatch_count(w), 1);
    put("login", "{\"stringData\":{\"secretId\":\"rotated\"}}");
    char which[128];
    assert_false(secretwatch_changed(w, which, sizeof(which)));
    secretwatch_free(w);
    secretwatch_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changed_and_gone),
        cmocka_unit_test(test_transient_is_unknown),
        cmocka_unit_test(test_other_threads_not_recorded),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cJSON_Delete(store);
    return rc;
}
