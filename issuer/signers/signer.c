/* signer.c -- helpers shared by every signer row. */
#include "signers/signer.h"

#include <stdlib.h>

void sign_result_free(struct sign_result *r)
{
    if (r == NULL)
        return;
    free(r->chain_pem);
    free(r->ca_pem);
    r->chain_pem = NULL;
    r->ca_pem = NULL;
}
