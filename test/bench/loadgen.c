/* loadgen.c -- a small closed-loop HTTP load generator (libcurl): N keep-alive connections,
 * one thread each, POSTing the same body until a time limit or a request count is reached.
 * Counts every response by status class; prints one key=value line. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOADGEN_MAX_CONNS 64
#define LOADGEN_MAX_BODY (1024 * 1024)
#define LOADGEN_SAMPLE_MAX (64 * 1024)

struct loadgen {
    const char *url, *content_type;
    char *body;
    size_t body_len;
    double seconds;
    long max_requests;
    double deadline;
    long issued; /* requests started, shared (bounded by max_requests) */
    pthread_mutex_t lock;
    char sample[LOADGEN_SAMPLE_MAX]; /* first response body, for the caller to check */
    size_t sample_len;
    bool sampled;
    char first_error[256];
};

struct worker {
    struct loadgen *lg;
    pthread_t tid;
    long ok, non2xx, errors, connects;
    char body[LOADGEN_SAMPLE_MAX];
    size_t body_len;
};

static double loadgen_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t loadgen_write(char *p, size_t size, size_t n, void *ud)
{
    struct worker *w = ud;
    size_t len = size * n;
    size_t room = sizeof(w->body) - 1 - w->body_len;
    size_t take = len < room ? len : room;
    memcpy(w->body + w->body_len, p, take);
    w->body_len += take;
    return len;
}

static bool loadgen_take(struct loadgen *lg)
{
    pthread_mutex_lock(&lg->lock);
    bool ok = loadgen_now() < lg->deadline && lg->issued < lg->max_requests;
    if (ok)
        lg->issued++;
    pthread_mutex_unlock(&lg->lock);
    return ok;
}

static void *loadgen_worker(void *arg)
{
    struct worker *w = arg;
    struct loadgen *lg = w->lg;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        w->errors++;
        return NULL;
    }
    char ct[256];
    snprintf(ct, sizeof(ct), "Content-Type: %s", lg->content_type);
    struct curl_slist *hdrs = curl_slist_append(NULL, ct);
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    /* HTTPS and credentials, from the environment so the command line stays as it is:
     * LOADGEN_CACERT (the server's CA), LOADGEN_CERT + LOADGEN_KEY (a client certificate),
     * LOADGEN_BEARER (a token sent as Authorization: Bearer). */
    const char *cacert = getenv("LOADGEN_CACERT"), *cert = getenv("LOADGEN_CERT");
    const char *key = getenv("LOADGEN_KEY"), *bearer = getenv("LOADGEN_BEARER");
    char auth[4096];
    if (bearer != NULL && bearer[0] != '\0') {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (cacert != NULL && cacert[0] != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, cacert);
    if (cert != NULL && cert[0] != '\0' && key != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    }
    curl_easy_setopt(c, CURLOPT_URL, lg->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, lg->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)lg->body_len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, loadgen_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* loopback only, whatever the environment says */
    while (loadgen_take(lg)) {
        w->body_len = 0;
        CURLcode rc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        long nconn = 0;
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nconn);
        w->connects += nconn;
        pthread_mutex_lock(&lg->lock);
        if (rc != CURLE_OK && lg->first_error[0] == '\0')
            snprintf(lg->first_error, sizeof(lg->first_error), "%s", curl_easy_strerror(rc));
        else if (rc == CURLE_OK && (code < 200 || code > 299) && lg->first_error[0] == '\0')
            snprintf(lg->first_error, sizeof(lg->first_error), "HTTP %ld: %.200s", code, w->body);
        if (rc == CURLE_OK && code >= 200 && code <= 299 && !lg->sampled) {
            memcpy(lg->sample, w->body, w->body_len);
            lg->sample_len = w->body_len;
            lg->sampled = true;
        }
        pthread_mutex_unlock(&lg->lock);
        if (rc != CURLE_OK)
            w->errors++;
        else if (code >= 200 && code <= 299)
            w->ok++;
        else
            w->non2xx++;
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return NULL;
}

static char *loadgen_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(LOADGEN_MAX_BODY + 1);
    size_t n = buf ? fread(buf, 1, LOADGEN_MAX_BODY + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > LOADGEN_MAX_BODY) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: loadgen URL BODY_FILE CONTENT_TYPE CONNECTIONS SECONDS "
                        "MAX_REQUESTS SAMPLE_OUT\n");
        return 2;
    }
    static struct loadgen lg;
    lg.url = argv[1];
    lg.content_type = argv[3];
    int conns = (int)strtol(argv[4], NULL, 10);
    lg.seconds = strtod(argv[5], NULL);
    lg.max_requests = strtol(argv[6], NULL, 10);
    if (conns < 1 || conns > LOADGEN_MAX_CONNS || lg.seconds <= 0 || lg.seconds > 600 ||
        lg.max_requests < 1) {
        fprintf(stderr, "loadgen: CONNECTIONS 1..%d, SECONDS 0..600, MAX_REQUESTS >= 1\n",
                LOADGEN_MAX_CONNS);
        return 2;
    }
    lg.body = loadgen_read(argv[2], &lg.body_len);
    if (lg.body == NULL) {
        fprintf(stderr, "loadgen: cannot read %s (at most %d bytes)\n", argv[2], LOADGEN_MAX_BODY);
        return 2;
    }
    pthread_mutex_init(&lg.lock, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static struct worker w[LOADGEN_MAX_CONNS];
    double t0 = loadgen_now();
    lg.deadline = t0 + lg.seconds;
    for (int i = 0; i < conns; i++) {
        w[i].lg = &lg;
        if (pthread_create(&w[i].tid, NULL, loadgen_worker, &w[i]) != 0) {
            fprintf(stderr, "loadgen: pthread_create failed\n");
            return 1;
        }
    }
    long ok = 0, non2xx = 0, errors = 0, connects = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(w[i].tid, NULL);
        ok += w[i].ok;
        non2xx += w[i].non2xx;
        errors += w[i].errors;
        connects += w[i].connects;
    }
    double elapsed = loadgen_now() - t0;
    printf("requests=%ld ok=%ld non2xx=%ld errors=%ld connects=%ld seconds=%.3f rate=%.1f\n",
           ok + non2xx + errors, ok, non2xx, errors, connects, elapsed, (double)ok / elapsed);
    if (lg.first_error[0] != '\0') {
        for (char *p = lg.first_error; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        printf("first_error=%s\n", lg.first_error);
    }
    FILE *f = fopen(argv[7], "wb");
    if (f != NULL) {
        fwrite(lg.sample, 1, lg.sample_len, f);
        fclose(f);
    }
    free(lg.body);
    curl_global_cleanup();
    return 0;
}
