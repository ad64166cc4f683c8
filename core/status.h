/* status.h: HTTP statuses and Feathers' error classes, the one table of them: each code's
 * reason phrase, and the error name and className it answers with (Feathers' own classes, and
 * the few the HTTP layer needs beyond them). Pure: no I/O. */
#ifndef FDN_STATUS_H
#define FDN_STATUS_H

#include <stddef.h>

struct fdn_status {
    int code;
    const char *reason;     /* "Not Found" */
    const char *name;       /* "NotFound", or NULL when the code is no error class */
    const char *class_name; /* "not-found", or NULL */
    int feathers;           /* 1: one of @feathersjs/errors' classes (fdn.errors has it) */
};

/* The entry of code; for a code not in the table, a GeneralError entry with reason "Unknown". */
const struct fdn_status *fdn_status_find(int code);

/* The whole table, in ascending code order; *n gets its length. */
const struct fdn_status *fdn_status_table(size_t *n);

#endif
