/* secretwatch.h -- the Secrets a signer read while it loaded, to tell later whether one of them
 * changed: a row re-checked in place (Vault) asks to be loaded again when it did. Only a SHA-256
 * of each Secret's data and stringData is kept, never its bytes. */
#ifndef EMBER_SECRETWATCH_H
#define EMBER_SECRETWATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "signers/signer.h"

struct secretwatch;

/* A watch forwarding to real (copied; real->ud must outlive the watch). It records nothing
 * until secretwatch_start. */
struct secretwatch *secretwatch_new(const struct signer_env *real);
/* The env to load with: get_secret forwards to the real getter and, between secretwatch_start
 * and secretwatch_stop, records what the starting thread read (other threads' reads, such as a
 * sub-CA thread's Vault login, are forwarded and not recorded); get_token forwards (NULL when
 * the real one is NULL). Valid while the watch lives. */
void secretwatch_env(struct secretwatch *w, struct signer_env *out);
/* Records the calling thread's reads from now on / no more. */
void secretwatch_start(struct secretwatch *w);
void secretwatch_stop(struct secretwatch *w);
/* The number of Secrets recorded (each ns/name once). Thread-safe. */
size_t secretwatch_count(struct secretwatch *w);
/* Reads each recorded Secret again through the real getter: true when one's data or stringData
 * differ from what was recorded, or it is gone (the getter says ERR_ISSUER_NOT_READY), with
 * "ns/name" in which (len bytes). A Secret that cannot be read now (ERR_TRANSIENT) counts as
 * unchanged. Call after secretwatch_stop. Thread-safe. */
bool secretwatch_changed(struct secretwatch *w, char *which, size_t len);
/* NULL is a no-op. */
void secretwatch_free(struct secretwatch *w);

#endif
